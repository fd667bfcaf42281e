import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { growToMean } from "../methods/load.ts";
import { initBackend } from "./backend.ts";
import { randomModel } from "./llama.ts";
import { tinyConfig } from "./tiny.ts";
import { fillWithMeanRow, growVocabularyTables, vocabularyTables } from "./vocabulary.ts";

beforeAll(async () => {
  await initBackend();
});

/** A table's rows [V, d] in HF layout. */
function rowsOf(t: tf.Tensor, transposed: boolean): number[][] {
  const hf = transposed ? tf.transpose(t) : t;
  const rows = hf.arraySync() as number[][];
  if (hf !== t) hf.dispose();
  return rows;
}

describe("growVocabularyTables", () => {
  it("returns a new config and grown tables, old rows kept and new rows filled, without touching the model", () => {
    const model = randomModel(tinyConfig("llama", { tieWordEmbeddings: false }), { seed: 7, std: 0.2 });
    const config = model.config;
    const oldV = config.vocabSize;
    const d = config.hiddenSize;
    const before = vocabularyTables(config).map((t) => rowsOf(model.w(t.name), t.transposed));
    const filled: string[] = [];
    const grown = growVocabularyTables(
      config,
      (name) => model.w(name),
      oldV + 2,
      (rows, table, index) => {
        filled.push(`${index}:${table.name}`);
        rows.fill(index + 1, oldV * d);
      },
    );

    expect(grown.config).not.toBe(config);
    expect(grown.config).toEqual({ ...config, vocabSize: oldV + 2 });
    expect(config.vocabSize).toBe(oldV);
    expect(model.config).toBe(config);
    expect(filled).toEqual(["0:model.embed_tokens.weight", "1:lm_head.weight"]);
    vocabularyTables(config).forEach((t, i) => {
      const table = grown.tables.get(t.name)!;
      expect(table.shape).toEqual(t.transposed ? [d, oldV + 2] : [oldV + 2, d]);
      const rows = rowsOf(table, t.transposed);
      for (let r = 0; r < oldV; r++)
        for (let j = 0; j < d; j++) expect(rows[r]![j]).toBeCloseTo(before[i]![r]![j]!, 6);
      expect(rows[oldV]).toEqual(Array(d).fill(i + 1));
      expect(model.w(t.name).shape[t.transposed ? 1 : 0]).toBe(oldV);
    });
    for (const t of grown.tables.values()) t.dispose();
    model.dispose();
  });

  it("grows only the embedding of a tied model, and never shrinks", () => {
    const model = randomModel(tinyConfig("llama", { tieWordEmbeddings: true }), { seed: 1 });
    const oldV = model.config.vocabSize;
    const grown = growVocabularyTables(
      model.config,
      (name) => model.w(name),
      oldV - 3,
      () => {},
    );
    expect([...grown.tables.keys()]).toEqual(["model.embed_tokens.weight"]);
    expect(grown.config.vocabSize).toBe(oldV);
    for (const t of grown.tables.values()) t.dispose();
    model.dispose();
  });
});

describe("Model.adoptVocabulary", () => {
  it("swaps in the grown tables and config; the old config object is left as it was", async () => {
    const model = randomModel(tinyConfig("llama", { tieWordEmbeddings: false }), { seed: 2, std: 0.2 });
    const old = model.config;
    const oldV = old.vocabSize;
    const d = old.hiddenSize;
    const embed = rowsOf(model.w("model.embed_tokens.weight"), false);
    growToMean(model, oldV + 3);

    expect(old.vocabSize).toBe(oldV);
    expect(model.config.vocabSize).toBe(oldV + 3);
    expect(model.w("model.embed_tokens.weight").shape).toEqual([oldV + 3, d]);
    expect(model.w("lm_head.weight").shape).toEqual([d, oldV + 3]);
    const mean = Array.from({ length: d }, (_, j) => embed.reduce((s, r) => s + r[j]!, 0) / oldV);
    const grownRow = rowsOf(model.w("model.embed_tokens.weight"), false)[oldV + 2]!;
    for (const [j, x] of grownRow.entries()) expect(x).toBeCloseTo(mean[j]!, 5);
    const [logits] = await model.logits([[1, oldV + 2]]);
    expect(logits!.map((position) => position.length)).toEqual([oldV + 3, oldV + 3]);
    model.dispose();
  });
});

describe("fillWithMeanRow", () => {
  it("writes the mean of the old rows into every new row", () => {
    const rows = new Float32Array([1, 2, 3, 4, 0, 0, 0, 0]);
    fillWithMeanRow(rows, 2, 2);
    expect([...rows]).toEqual([1, 2, 3, 4, 2, 3, 2, 3]);
  });
});
