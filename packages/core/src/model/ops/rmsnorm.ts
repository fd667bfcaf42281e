// RMSNorm: x * rsqrt(mean(x^2) + eps) * w per row.
import * as tf from "@tensorflow/tfjs-core";
import { kernel, type OpSpec } from "./registry.ts";

export const RMSNORM: OpSpec = {
  op: "rmsnorm",
  formulation: "y = x * rsqrt(mean(x^2) + eps) * w",
  gradient:
    "dx = r * (w*dy - x * r^2 * mean(x * w*dy)), r = rsqrt(mean(x^2) + eps); dw = sum over rows of dy * x * r",
  reference: { name: "rmsNorm", plan: () => "x * rsqrt(mean(x^2) + eps) * w, built-in gradients" },
};

export interface RmsNormOptions {
  eps: number;
  /** Differentiated (training). */
  grad: boolean;
  /** The weight's gradient is wanted (a trainable norm). */
  weightGrad: boolean;
  /** The reference formulation whatever is registered (a check for tests). */
  reference?: boolean;
}

export function rmsNorm(x: tf.Tensor2D, w: tf.Tensor1D, o: RmsNormOptions): tf.Tensor2D {
  const fast = o.reference ? undefined : kernel("rmsnorm");
  if (fast) return fast(x, w, o.eps, o.grad, o.grad && o.weightGrad);
  const variance = tf.mean(tf.square(x), -1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(variance, o.eps))), w);
}
