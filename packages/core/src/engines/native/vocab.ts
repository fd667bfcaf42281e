// Vocabulary growth on the native engine: the embedding (and an untied lm_head) grow to the plan's
// rows, new rows initialised as the tfjs engine's growVocabulary does (mean row, mean + seeded noise,
// or the mean embedding of a description). Tables keep their storage dtype.
import type { Plan } from "../../compile/plan-schema.ts";
import { newTokens } from "../../methods/vocab.ts";
import { normalArray, subSeed } from "../../model/adapters/random.ts";
import type { ModelConfig } from "../../model/config.ts";
import { type BaseTensor, fromF32, toF32 } from "./weights.ts";

/** The tables a grown vocabulary touches, in the tfjs engine's order (its noise seeds depend on it). */
export function tableNames(cfg: ModelConfig): string[] {
  return cfg.tieWordEmbeddings
    ? ["model.embed_tokens.weight"]
    : ["model.embed_tokens.weight", "lm_head.weight"];
}

/** Whether the plan adds rows to the tables. */
export function growsVocabulary(plan: Plan, cfg: ModelConfig): boolean {
  return plan.model.vocab.total > cfg.vocabSize || newTokens(plan).length > 0;
}

/**
 * Grows the tables in place (cfg.vocabSize too); `encode` tokenizes descriptions for init `describe`.
 * Returns the new tokens' float32 rows by table (a bf16 table holds them rounded; trained rows start exact).
 */
export function growTables(
  base: Map<string, BaseTensor>,
  cfg: ModelConfig,
  plan: Plan,
  encode: ((text: string) => number[]) | null,
): Map<string, Map<number, Float32Array>> {
  const exact = new Map<string, Map<number, Float32Array>>();
  const tokens = newTokens(plan);
  const oldV = cfg.vocabSize;
  const V = Math.max(oldV, plan.model.vocab.total);
  const d = cfg.hiddenSize;
  for (const t of tokens)
    if (t.id >= V) throw new Error(`added token "${t.content}" has id ${t.id}, past the plan's ${V} rows`);
  const describe = tokens.find((t) => t.init === "describe" && t.description);
  if (describe && !encode)
    throw new Error(`added token "${describe.content}" has init "describe": no tokenizer to encode it`);
  const meanOf = Math.min(oldV, plan.model.vocab.tokenizer ?? oldV);
  for (const [table, name] of tableNames(cfg).entries()) {
    const t = base.get(name)!;
    const old = toF32(t.stored);
    const rows = new Float32Array(V * d);
    rows.set(old.subarray(0, oldV * d));
    const mean = new Float64Array(d);
    for (let r = 0; r < meanOf; r++) for (let j = 0; j < d; j++) mean[j]! += rows[r * d + j]!;
    for (let j = 0; j < d; j++) mean[j]! /= Math.max(1, meanOf);
    for (const tok of tokens) {
      let from: Float64Array = mean;
      if (tok.init === "describe" && tok.description && encode) {
        const ids = encode(tok.description).filter((i) => i >= 0 && i < meanOf);
        if (ids.length) {
          from = new Float64Array(d);
          for (const i of ids) for (let j = 0; j < d; j++) from[j]! += rows[i * d + j]!;
          for (let j = 0; j < d; j++) from[j]! /= ids.length;
        }
      }
      const noise =
        tok.init === "noise" ? normalArray(d, 1 / Math.sqrt(d), subSeed(plan.seed, table, tok.id)) : null;
      for (let j = 0; j < d; j++) rows[tok.id * d + j] = from[j]! + (noise?.[j] ?? 0);
    }
    exact.set(name, new Map(tokens.map((tok) => [tok.id, rows.slice(tok.id * d, (tok.id + 1) * d)])));
    // The table keeps its storage dtype (trained new rows are read from their float32 side table).
    t.stored =
      t.stored.dtype === "f32" || t.stored.dtype === "nf4"
        ? { dtype: "f32", data: rows }
        : fromF32(rows, t.stored.dtype);
    t.shape = [V, d];
  }
  cfg.vocabSize = V;
  return exact;
}
