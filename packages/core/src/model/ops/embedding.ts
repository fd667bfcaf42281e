// Embedding: rows of the table by token id, with a scatter-add gradient (wasm has no
// UnsortedSegmentSum, the kernel of gather's built-in gradient).
import * as tf from "@tensorflow/tfjs-core";
import { freeing } from "../free.ts";
import type { OpSpec } from "./registry.ts";

export const EMBEDDING: OpSpec = {
  op: "embedding",
  formulation: "y[t] = table[ids[t]]",
  gradient: "dtable = scatter-add of dy rows at ids",
  reference: {
    name: "embedding",
    plan: () =>
      "forward gather rows; gradient scatterNd (scatter-add of row gradients), no UnsortedSegmentSum",
  },
};

/** Row lookup table[ids] with a scatter-add gradient (wasm has no UnsortedSegmentSum). */
export function embedding(table: tf.Tensor2D, ids: Int32Array): tf.Tensor2D {
  const [vocab, dim] = table.shape;
  // ids are re-uploaded in the backward pass: forward tensors are gone by then.
  const f = tf.customGrad((t, _save) => {
    const value = tf.gather(t as tf.Tensor2D, tf.tensor1d(ids, "int32"));
    return {
      value,
      gradFunc: freeing((dy) =>
        tf.tidy(() => [
          tf.scatterND(tf.tensor2d(ids, [ids.length, 1], "int32"), dy as tf.Tensor2D, [
            vocab,
            dim,
          ]) as tf.Tensor2D,
        ]),
      ),
    };
  });
  return f(table) as tf.Tensor2D;
}
