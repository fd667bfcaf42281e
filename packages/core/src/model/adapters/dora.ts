// DoRA (weight-decomposed LoRA) on one linear, as PEFT computes it (src/peft/tuners/lora/dora.py,
// DoraLinearLayer.forward, v0.20): with W' = W + s·B·A and n = ‖W'‖ per output row (treated as a constant:
// no gradient flows through it, per section 4.3 of the DoRA paper), the output is
//   base(x) + (m/n − 1)·(x_d·Wᵀ) + (m/n)·s·(x_d·Aᵀ·Bᵀ)
// where x_d is the LoRA input after dropout, and x_d·Wᵀ excludes the bias.
import * as tf from "@tensorflow/tfjs-core";
import { linear } from "../kernels.ts";

/**
 * ‖Wt + s·A·B‖ over the input axis of the stored [in, out] layout (PEFT's row norm of [out, in]), with a
 * zero gradient for A and B (PEFT detaches it). `weight` is called inside, so a dequantized copy is freed.
 */
export function doraWeightNorm(
  weight: () => tf.Tensor2D,
  a: tf.Tensor2D,
  b: tf.Tensor2D,
  scale: number,
): tf.Tensor1D {
  const f = tf.customGrad((ai, bi) => ({
    value: tf.tidy(() => {
      const w = tf.add(weight(), tf.mul(tf.matMul(ai as tf.Tensor2D, bi as tf.Tensor2D), scale));
      return tf.sqrt(tf.sum(tf.square(w), 0)) as tf.Tensor1D;
    }),
    gradFunc: () => [tf.zerosLike(a), tf.zerosLike(b)],
  }));
  return f(a, b) as tf.Tensor1D;
}

export interface DoraLinear {
  /** A stored [in, r]. */
  a: tf.Tensor2D;
  /** B stored [r, out]. */
  b: tf.Tensor2D;
  /** The magnitude m, [out]. */
  magnitude: tf.Tensor1D;
  scale: number;
  /** The frozen base weight as stored, [in, out] (dequantized for an NF4 base). */
  weight: () => tf.Tensor2D;
  /** The inverted-dropout mask on the LoRA input, or null (evaluation, or no dropout). */
  mask: tf.Tensor2D | null;
}

/** DoRA's output given the layer's own (`base`, bias included) and its bias. */
export function doraForward(
  x: tf.Tensor2D,
  base: (x: tf.Tensor2D) => tf.Tensor2D,
  bias: tf.Tensor1D | null,
  d: DoraLinear,
  add: (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D = (a, b) => tf.add(a, b),
): tf.Tensor2D {
  const norm = doraWeightNorm(d.weight, d.a, d.b, d.scale);
  const mn = tf.div(d.magnitude, norm) as tf.Tensor1D;
  const y = base(x);
  // PEFT reuses the layer's output without dropout, and recomputes x_d·Wᵀ with it.
  const xd = d.mask ? (tf.mul(x, d.mask) as tf.Tensor2D) : x;
  const withBias = d.mask ? base(xd) : y;
  const baseResult = bias ? (tf.sub(withBias, bias) as tf.Tensor2D) : withBias;
  const loraResult = linear(linear(xd, d.a, null, true), d.b, null, true);
  const extra = tf.add(
    tf.mul(baseResult, tf.sub(mn, 1)),
    tf.mul(loraResult, tf.mul(mn, d.scale)),
  ) as tf.Tensor2D;
  return add(y, extra);
}
