// NF4 dequantization for a frozen base linear (QLoRA): y = x @ W^T with W [out, in] dequantized for
// one matmul and dropped after it, in the forward pass and again in the backward pass.
import * as tf from "@tensorflow/tfjs-core";
import { dequantizeNF4, type NF4Tensor, nf4Absmax, nf4Table } from "../adapters/nf4.ts";
import { matMulBT } from "./matmul.ts";
import { kernel, type OpSpec } from "./registry.ts";

export const NF4_DEQUANT: OpSpec = {
  op: "nf4_dequant",
  formulation: "W[i] = NF4[code[i]] * absmax[block(i)]; y = x @ W^T",
  gradient: "dx = dy @ W (W dequantized again); no weight gradient (frozen)",
  reference: {
    name: "dequantizeNF4",
    plan: () =>
      "codes dequantized in JS into a float32 upload per matmul ([in, out] for the forward, [out, in] for the backward), dropped after it",
  },
};

/** x @ W^T for an NF4-quantized W [out, in]; no weight gradient. */
export function nf4Matmul(x: tf.Tensor2D, q: NF4Tensor, outF: number, inF: number): tf.Tensor2D {
  const fast = kernel("nf4_dequant");
  if (fast) {
    // Dequantized into a tensor in [out, in] order; a matmul kernel reads it transposed in place.
    const weight = () => fast(q.codes, nf4Absmax(q), nf4Table(), q.blockSize, [outF, inF]);
    const f = tf.customGrad((xi) => ({
      value: tf.tidy(() => matMulBT(xi as tf.Tensor2D, weight())),
      gradFunc: (dy) => tf.tidy(() => tf.matMul(dy as tf.Tensor2D, weight())),
    }));
    return f(x) as tf.Tensor2D;
  }
  const f = tf.customGrad((xi) => {
    const value = tf.tidy(() =>
      tf.matMul(xi as tf.Tensor2D, tf.tensor2d(dequantizeNF4(q, [outF, inF]), [inF, outF])),
    );
    return {
      value,
      gradFunc: (dy) =>
        tf.tidy(() => tf.matMul(dy as tf.Tensor2D, tf.tensor2d(dequantizeNF4(q), [outF, inF]))),
    };
  });
  return f(x) as tf.Tensor2D;
}
