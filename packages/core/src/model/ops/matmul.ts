// Products with a transposed operand: BLAS reads it in place where a matmul kernel that can is
// registered; XNNPACK (wasm) only takes plain products, so the reference copies the transpose.
import * as tf from "@tensorflow/tfjs-core";
import { kernel, type OpSpec } from "./registry.ts";

export const MATMUL: OpSpec = {
  op: "matmul",
  formulation: "C = A @ B (2-D, either operand possibly transposed)",
  gradient: "dA = dC @ B^T, dB = A^T @ dC (built-in)",
  reference: { name: "BatchMatMul", plan: () => null },
};

export const TRANSPOSE: OpSpec = {
  op: "transpose",
  formulation: "swap of the last two axes",
  gradient: "the inverse permutation",
  reference: { name: "Transpose", plan: () => null },
};

/** a @ b^T. */
export function matMulBT(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  const k = kernel("matmul");
  return k ? k.bt(a, b) : tf.matMul(a, tf.transpose(b));
}

/** a^T @ b. */
export function matMulAT(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  const k = kernel("matmul");
  return k ? k.at(a, b) : tf.matMul(tf.transpose(a), b);
}

/** Whether transposed operands are read in place (callers then keep tensors in their own layout). */
export function transposesInPlace(): boolean {
  return kernel("matmul") !== undefined;
}
