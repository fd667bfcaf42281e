// SwiGLU: silu(gate) * up, the MLP's gating.
import * as tf from "@tensorflow/tfjs-core";
import { kernel, type OpSpec } from "./registry.ts";

export const SWIGLU: OpSpec = {
  op: "swiglu",
  formulation: "y = silu(g) * u = g * sigmoid(g) * u",
  gradient: "dg = dy * u * s * (1 + g * (1 - s)), s = sigmoid(g); du = dy * silu(g)",
  reference: { name: "swiglu", plan: () => "silu(gate) * up, built-in gradients" },
};

/** `reference`: the tfjs formulation whatever is registered (a check for tests). */
export function swiglu(g: tf.Tensor2D, u: tf.Tensor2D, grad: boolean, reference = false): tf.Tensor2D {
  const fast = reference ? undefined : kernel("swiglu");
  if (fast) return fast(g, u, grad);
  return tf.mul(tf.mul(g, tf.sigmoid(g)), u) as tf.Tensor2D;
}
