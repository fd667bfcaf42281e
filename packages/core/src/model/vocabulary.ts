// The one way a model's vocabulary grows (added tokens, an adapter's token rows): the embedding and an untied
// lm_head get `vocabSize` rows, and the config that says so is a new object (configs are never mutated).
import * as tf from "@tensorflow/tfjs-core";
import type { ModelConfig } from "./config.ts";

/** A table indexed by token: its HF name and whether it is stored transposed ([d, V], as lm_head is). */
export interface VocabularyTable {
  name: string;
  transposed: boolean;
}

/** The tables with a row per token: the embedding, and lm_head unless it is tied to the embedding. */
export function vocabularyTables(config: ModelConfig): VocabularyTable[] {
  const tables = [{ name: "model.embed_tokens.weight", transposed: false }];
  if (!config.tieWordEmbeddings) tables.push({ name: "lm_head.weight", transposed: true });
  return tables;
}

export interface GrownVocabulary {
  /** A copy of the config with the new `vocabSize`. */
  config: ModelConfig;
  /** The grown tables by HF name, in their stored layout; the caller owns (and disposes) them. */
  tables: Map<string, tf.Tensor2D>;
}

/**
 * Fills the rows of one grown table. `rows` is [vocabSize, d] in HF layout with the old rows copied in;
 * `index` is the table's position in `vocabularyTables` (0: embedding).
 */
export type FillRows = (rows: Float32Array, table: VocabularyTable, index: number) => void;

/** Grows the tables of `config` (read through `weight`) to `vocabSize` rows, at least their current count. */
export function growVocabularyTables(
  config: ModelConfig,
  weight: (name: string) => tf.Tensor,
  vocabSize: number,
  fill: FillRows,
): GrownVocabulary {
  const V = Math.max(vocabSize, config.vocabSize);
  const d = config.hiddenSize;
  const tables = new Map<string, tf.Tensor2D>();
  vocabularyTables(config).forEach((table, index) => {
    const rows = new Float32Array(V * d);
    rows.set(hfRows(weight(table.name), table.transposed).subarray(0, config.vocabSize * d));
    fill(rows, table, index);
    tables.set(
      table.name,
      tf.tidy(() => {
        const t = tf.tensor2d(rows, [V, d]);
        return table.transposed ? tf.transpose(t) : t;
      }),
    );
  });
  return { config: { ...config, vocabSize: V }, tables };
}

/** Rows [V, d] of a table in HF layout. */
function hfRows(t: tf.Tensor, transposed: boolean): Float32Array {
  if (!transposed) return t.dataSync() as Float32Array;
  const rows = tf.transpose(t);
  const data = rows.dataSync() as Float32Array;
  rows.dispose();
  return data;
}

/** Writes the mean of the first `oldV` rows into rows [oldV, V) (transformers' resize_token_embeddings default). */
export function fillWithMeanRow(rows: Float32Array, oldV: number, d: number): void {
  const V = rows.length / d;
  const mean = new Float64Array(d);
  for (let r = 0; r < oldV; r++) for (let j = 0; j < d; j++) mean[j]! += rows[r * d + j]!;
  for (let r = oldV; r < V; r++) for (let j = 0; j < d; j++) rows[r * d + j] = mean[j]! / oldV;
}
