import type { Plan } from "../compile/plan-schema.ts";
import { normalArray, subSeed } from "../model/adapters/random.ts";
import type { Model } from "../model/llama.ts";
import { growVocabularyTables } from "../model/vocabulary.ts";

export type NewToken = Plan["tokenizer"]["added"][number] & { id: number };

/** Tokens the recipe added that were not in the tokenizer before (their rows are new). */
export function newTokens(plan: Plan): NewToken[] {
  const before = plan.model.vocab.tokenizer ?? plan.model.vocab.model;
  return plan.tokenizer.added.filter((t): t is NewToken => t.id !== null && t.id >= before);
}

export interface GrowOptions {
  /** Encodes a description (init `describe`); loaded from the plan's tokenizer folder when not given. */
  encode?: (text: string) => number[];
}

const grown = new WeakSet<Model>();

/** Whether the model's tables already have the plan's rows, initialised. */
export function isGrown(model: Model, plan: Plan): boolean {
  return (
    grown.has(model) || (newTokens(plan).length === 0 && model.config.vocabSize >= plan.model.vocab.total)
  );
}

/** Initial values of the new rows of one table, [oldV..] by token. */
function initRows(
  rows: Float32Array,
  oldV: number,
  d: number,
  tokens: NewToken[],
  encode: ((text: string) => number[]) | null,
  seed: number,
  table: number,
): void {
  const mean = new Float64Array(d);
  for (let r = 0; r < oldV; r++) for (let j = 0; j < d; j++) mean[j]! += rows[r * d + j]!;
  for (let j = 0; j < d; j++) mean[j]! /= Math.max(1, oldV);
  for (const t of tokens) {
    const at = t.id * d;
    let base: Float64Array = mean;
    if (t.init === "describe" && t.description && encode) {
      const ids = encode(t.description).filter((i) => i >= 0 && i < oldV);
      if (ids.length) {
        base = new Float64Array(d);
        for (const i of ids) for (let j = 0; j < d; j++) base[j]! += rows[i * d + j]!;
        for (let j = 0; j < d; j++) base[j]! /= ids.length;
      }
    }
    const noise = t.init === "noise" ? normalArray(d, 1 / Math.sqrt(d), subSeed(seed, table, t.id)) : null;
    for (let j = 0; j < d; j++) rows[at + j] = base[j]! + (noise?.[j] ?? 0);
  }
}

/**
 * Grows the model's embedding (and untied lm_head) to `plan.model.vocab.total` rows and initialises
 * the rows of new tokens; idempotent. Loads the plan's tokenizer for init `describe`.
 */
export async function growVocabulary(model: Model, plan: Plan, opts: GrowOptions = {}): Promise<void> {
  if (isGrown(model, plan)) return;
  let encode = opts.encode ?? null;
  if (!encode && newTokens(plan).some((t) => t.init === "describe") && plan.tokenizer.dir) {
    const { loadTokenizer } = await import("../data/tokenizer/index.ts");
    const tok = await loadTokenizer(plan.tokenizer.dir);
    encode = (text) => tok.encode(text, { addSpecialTokens: false });
  }
  growVocabularySync(model, plan, encode);
}

/** growVocabulary without loading a tokenizer: init `describe` needs `encode`. */
export function growVocabularySync(
  model: Model,
  plan: Plan,
  encode: ((text: string) => number[]) | null,
): void {
  if (isGrown(model, plan)) return;
  const tokens = newTokens(plan);
  const describe = tokens.find((t) => t.init === "describe" && t.description);
  if (describe && !encode)
    throw new Error(
      `added token "${describe.content}" has init "describe": call growVocabulary(model, plan) first (it tokenizes the description)`,
    );
  const { vocabSize: oldV, hiddenSize: d } = model.config;
  const V = Math.max(oldV, plan.model.vocab.total);
  for (const t of tokens)
    if (t.id >= V) throw new Error(`added token "${t.content}" has id ${t.id}, past the plan's ${V} rows`);
  const meanOver = Math.min(oldV, plan.model.vocab.tokenizer ?? oldV);
  const grownTables = growVocabularyTables(
    model.config,
    (name) => model.w(name),
    V,
    (rows, _table, index) => initRows(rows, meanOver, d, tokens, encode, plan.seed, index),
  );
  model.adoptVocabulary(grownTables, true);
  grown.add(model);
}
