// Trainable token rows (PEFT's trainable tokens): only the rows of chosen token ids train, as their own
// small variables; the stored tables never change, so every other row stays bit-exact.
import * as tf from "@tensorflow/tfjs-core";
import type { AdapterHooks, Model } from "../llama.ts";
import { variableOf } from "./ops.ts";
import type { Piece } from "./piece.ts";

export const EMBED_ROWS = "model.embed_tokens.trainable_tokens";
export const HEAD_ROWS = "lm_head.trainable_tokens";

export interface TokenRows extends Piece {
  readonly ids: readonly number[];
  /** A table's rows in HF layout [V, d] with the trained rows written in. */
  mergedRows(
    table: "model.embed_tokens.weight" | "lm_head.weight",
    hfRows: Float32Array,
  ): Promise<Float32Array>;
  /** The trained rows [n, d] of a table (PEFT's trainable_tokens_delta holds the values, not a difference). */
  rows(table: "model.embed_tokens.weight" | "lm_head.weight"): Promise<Float32Array>;
}

/** `base` [V, d] with rows `ids` taken from `rows` [n, d]; gradients reach `rows` only. */
function withRows(base: tf.Tensor2D, ids: readonly number[], rows: tf.Tensor2D): tf.Tensor2D {
  const [V, d] = base.shape;
  const n = ids.length;
  const tail = ids.every((id, i) => id === V - n + i);
  if (tail) return tf.concat([tf.slice(base, [0, 0], [V - n, d]), rows], 0);
  // Scatter by a one-hot matmul (plain 2-D; wasm has no gather gradient); kept rows get exactly + 0.
  const oneHot = new Float32Array(V * n);
  const keep = new Float32Array(V).fill(1);
  ids.forEach((id, i) => {
    oneHot[id * n + i] = 1;
    keep[id] = 0;
  });
  const scattered = tf.matMul(tf.tensor2d(oneHot, [V, n]), rows);
  return tf.add(tf.mul(base, tf.tensor2d(keep, [V, 1])), scattered) as tf.Tensor2D;
}

/** `baseT` [d, V] (a transposed table) with columns `ids` taken from `rows` [n, d]. */
function withColumns(baseT: tf.Tensor2D, ids: readonly number[], rows: tf.Tensor2D): tf.Tensor2D {
  const [d, V] = baseT.shape;
  const n = ids.length;
  const rowsT = tf.transpose(rows) as tf.Tensor2D;
  if (ids.every((id, i) => id === V - n + i))
    return tf.concat([tf.slice(baseT, [0, 0], [d, V - n]), rowsT], 1);
  const oneHotT = new Float32Array(n * V);
  const keep = new Float32Array(V).fill(1);
  ids.forEach((id, i) => {
    oneHotT[i * V + id] = 1;
    keep[id] = 0;
  });
  const scattered = tf.matMul(rowsT, tf.tensor2d(oneHotT, [n, V]));
  return tf.add(tf.mul(baseT, tf.tensor2d(keep, [1, V])), scattered) as tf.Tensor2D;
}

/** Rows `ids` of the embedding (and of an untied lm_head) train; `ids` sorted, distinct, inside the tables. */
export function tokenRows(model: Model, ids: readonly number[]): TokenRows {
  const sorted = [...new Set(ids)].sort((a, b) => a - b);
  const V = model.config.vocabSize;
  const bad = sorted.find((id) => id < 0 || id >= V);
  if (bad !== undefined) throw new Error(`trainable token id ${bad} is outside the embedding (${V} rows)`);
  const idx = tf.tensor1d(sorted, "int32");
  const E = model.w("model.embed_tokens.weight");
  const embed = variableOf(tf.gather(E, idx), `rows${model.id}/${EMBED_ROWS}`);
  const trainable: [string, tf.Variable][] = [[EMBED_ROWS, embed]];
  let head: tf.Variable | null = null;
  if (!model.config.tieWordEmbeddings) {
    // lm_head is stored [d, V]: its rows are columns here.
    const rowsT = tf.tidy(() => tf.transpose(tf.gather(model.w("lm_head.weight"), idx, 1)));
    head = variableOf(rowsT, `rows${model.id}/${HEAD_ROWS}`);
    trainable.push([HEAD_ROWS, head]);
  }
  idx.dispose();
  // One pass asks for the embedding twice when lm_head is tied (lookup and logits): build it once per
  // pass; a table disposed by an earlier scope (generation steps) is rebuilt.
  const hooks = (): AdapterHooks => {
    const built = new Map<string, tf.Tensor2D>();
    return {
      table: (name) => {
        const have = built.get(name);
        if (have && !have.isDisposed) return have;
        let t: tf.Tensor2D;
        if (name === "model.embed_tokens.weight")
          t = withRows(model.w(name) as tf.Tensor as tf.Tensor2D, sorted, embed as tf.Tensor as tf.Tensor2D);
        else if (head)
          t = withColumns(
            model.w(name) as tf.Tensor as tf.Tensor2D,
            sorted,
            head as tf.Tensor as tf.Tensor2D,
          );
        else return null;
        built.set(name, t);
        return t;
      },
    };
  };
  const varOf = (table: string) => (table === "lm_head.weight" ? head : embed);
  return {
    ids: sorted,
    trainable,
    hooks,
    async rows(table) {
      const v = varOf(table);
      if (!v) throw new Error(`no trainable rows for ${table} (tied to the embedding)`);
      return (await v.data()) as Float32Array;
    },
    async mergedRows(table, hfRows) {
      const out = Float32Array.from(hfRows);
      const v = varOf(table);
      if (!v) return out;
      const r = (await v.data()) as Float32Array;
      const d = model.config.hiddenSize;
      sorted.forEach((id, i) => {
        out.set(r.subarray(i * d, (i + 1) * d), id * d);
      });
      return out;
    },
    dispose() {
      embed.dispose();
      head?.dispose();
    },
  };
}
