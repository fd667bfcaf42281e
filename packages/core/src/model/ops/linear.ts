// Linear: y = x @ Wt (+ b), weights stored [in, out]; gradients as plain 2-D products.
import * as tf from "@tensorflow/tfjs-core";
import { freeing } from "../free.ts";
import { matMulAT, matMulBT } from "./matmul.ts";
import type { OpSpec } from "./registry.ts";

export const LINEAR: OpSpec = {
  op: "linear",
  formulation: "y = x[T,in] @ Wt[in,out] (+ b)",
  gradient: "dx = dy @ Wt^T; dWt = x^T @ dy (skipped for a frozen weight); db = sum(dy)",
  reference: {
    name: "linear",
    plan: (backend) =>
      `y = x[T,in] @ Wt[in,out]; dx = dy @ transpose(Wt); dWt = transpose(x) @ dy; ${
        backend === "wasm"
          ? "2-D non-transposed matMul (XNNPACK); transposes are explicit copies (our Transpose kernel)"
          : "2-D matMul with explicit transposes"
      }`,
  },
};

/**
 * Tensors made in a forward pass are disposed before the backward pass runs unless saved (which
 * copies them), so only non-variable inputs are saved; variables outlive the pass.
 */
function saveable(t: tf.Tensor): boolean {
  return !(t instanceof tf.Variable);
}

/**
 * y = x @ wt (+ b) with wt stored as [in, out]. Gradients use only plain 2-D matmuls.
 * With `weightGrad` false (a frozen weight) no weight gradient is computed.
 */
export function linear(
  x: tf.Tensor2D,
  wt: tf.Tensor2D,
  b: tf.Tensor1D | null,
  weightGrad = true,
): tf.Tensor2D {
  if (!weightGrad) {
    const f = tf.customGrad((xi, save) => {
      const keepW = saveable(wt);
      if (keepW) (save as tf.GradSaveFunc)([wt]);
      const value = tf.matMul(xi as tf.Tensor2D, wt);
      return {
        value,
        gradFunc: freeing((dy, saved) => [
          tf.tidy(() => matMulBT(dy as tf.Tensor2D, keepW ? (saved[0] as tf.Tensor2D) : wt)),
        ]),
      };
    });
    const y = f(x) as tf.Tensor2D;
    return b ? tf.add(y, b) : y;
  }
  const f = tf.customGrad((xi, wi, save) => {
    const xx = xi as tf.Tensor2D;
    const ww = wi as tf.Tensor2D;
    const keepW = saveable(ww);
    (save as tf.GradSaveFunc)(keepW ? [xx, ww] : [xx]);
    const value = tf.matMul(xx, ww);
    return {
      value,
      gradFunc: freeing((dy, saved) =>
        tf.tidy(() => {
          const d = dy as tf.Tensor2D;
          const xs = saved[0] as tf.Tensor2D;
          const ws = keepW ? (saved[1] as tf.Tensor2D) : ww;
          return [matMulBT(d, ws), matMulAT(xs, d)];
        }),
      ),
    };
  });
  const y = f(x, wt) as tf.Tensor2D;
  return b ? tf.add(y, b) : y;
}
