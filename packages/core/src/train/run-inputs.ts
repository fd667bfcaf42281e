// What a run reads besides the plan's numbers, taken from the plan alone: the tokenized data from the
// content-keyed cache entries it names, the tokenizer with its added and special tokens, the chat template,
// the probe facts and where the base weights come from. No recipe is read or compiled here.
import { existsSync } from "node:fs";
import type { CompileResult } from "../compile/compile.ts";
import { modelConfigOfPlan } from "../compile/plan-model.ts";
import type { Plan } from "../compile/plan-schema.ts";
import { entryPath, readEntry } from "../data/cache/store.ts";
import { splitIndices } from "../data/mix/split.ts";
import type { SplitData } from "../data/pipeline.ts";
import type { ProbeFact } from "../data/probes.ts";
import { loadTokenizer, type Tokenizer } from "../data/tokenizer/index.ts";
import type { ModelSource } from "../engines/engine.ts";
import { unreachable } from "../util/unreachable.ts";
import { TrainError } from "./errors.ts";

export interface RunInputs {
  data: SplitData;
  /** Null when the plan has no tokenizer folder (no samples or probes are decoded then). */
  tokenizer: Tokenizer | null;
  /** The chat template trained with. */
  template: string | null;
  probes: ProbeFact[];
  model: ModelSource;
}

/** The inputs of a plan made together with this compile result (nothing is read again). */
export function runInputsFromCompiled(plan: Plan, compiled: CompileResult): RunInputs {
  const data = compiled.data?.prepared;
  if (!data) throw new TrainError("the recipe's data could not be prepared");
  const resolved = compiled.resolved;
  const m = resolved?.model;
  return {
    data,
    tokenizer: resolved?.tokenizer ?? null,
    template: plan.template.text ?? resolved?.template?.text ?? null,
    probes: resolved?.probes ?? [],
    model: m?.dir ? { dir: m.dir } : m ? { config: m.config, seed: plan.seed } : modelSourceOf(plan, ""),
  };
}

/**
 * The inputs of a plan read on its own. `where` names the plan in messages (its file, or "the plan").
 * Every failure is a TrainError that says which field of the plan and how to make it right.
 */
export async function runInputsFromPlan(plan: Plan, where = "the plan"): Promise<RunInputs> {
  requireRecorded(plan, where);
  return {
    data: await dataFromCache(plan, where),
    tokenizer: await tokenizerOf(plan, where),
    template: plan.template.text ?? null,
    probes: plan.probes?.facts ?? [],
    model: modelSourceOf(plan, where),
  };
}

/** How to make a plan (and its data cache) again: compile its recipe. */
function rebuildHint(plan: Plan): string {
  return plan.recipe.file
    ? `compile the recipe again to rebuild it: sft plan ${plan.recipe.file}`
    : "compile the recipe again to rebuild it (compile(recipe) writes the data cache)";
}

/** Plans of version 1 made before the runtime read only the plan lack some fields. */
function requireRecorded(plan: Plan, where: string): void {
  const missing = [
    plan.data.cache.keys === undefined ? "data.cache.keys" : null,
    plan.template.text === undefined ? "template.text" : null,
    plan.probes && plan.probes.facts === undefined ? "probes.facts" : null,
    plan.output.baseModelName === undefined ? "output.baseModelName" : null,
  ].filter((x): x is string => x !== null);
  if (missing.length)
    throw new TrainError(
      `${where} was made by an earlier sftkit and does not record ${missing.join(", ")}; ${rebuildHint(plan)}`,
    );
}

async function dataFromCache(plan: Plan, where: string): Promise<SplitData> {
  const dir = plan.data.cache.dir;
  const keys = plan.data.cache.keys ?? {};
  const out: SplitData & { reports: SplitData["reports"][number][] } = { reports: [], train: {}, eval: {} };
  for (const s of plan.data.sources) {
    const at = `${where}: data.cache.keys.${s.name}`;
    const key = keys[s.name];
    if (!dir || !key)
      throw new TrainError(`${at}: source \`${s.name}\` is not in the data cache; ${rebuildHint(plan)}`);
    if (s.trainRows === null || s.evalRows === null || s.samplesPerEpoch === null)
      throw new TrainError(
        `${where}: data.sources: the plan was made without reading the data; ${rebuildHint(plan)}`,
      );
    const entry = await readEntry(dir, key);
    if (!entry)
      throw new TrainError(
        `${at}: the data cache entry ${entryPath(dir, key)} of source \`${s.name}\` is missing or damaged; ${rebuildHint(plan)}`,
      );
    const n = entry.samples.length;
    if (n !== s.trainRows + s.evalRows)
      throw new TrainError(
        `${at}: the cache entry holds ${n} samples, the plan splits ${s.trainRows} + ${s.evalRows}; ${rebuildHint(plan)}`,
      );
    // The split the compiler made: the same seeded permutation holds out the same evalRows rows.
    const split = splitIndices(n, s.evalRows > 0 ? s.evalRows : undefined, plan.data.seed, s.name);
    out.train[s.name] = split.train.map((i) => entry.samples[i]!);
    out.eval[s.name] = split.eval.map((i) => entry.samples[i]!);
    out.reports.push({ name: s.name, trainRows: s.trainRows, samplesPerEpoch: s.samplesPerEpoch });
  }
  return out;
}

/** The plan's tokenizer folder with the plan's added tokens (at the plan's ids) and special tokens. */
async function tokenizerOf(plan: Plan, where: string): Promise<Tokenizer | null> {
  const t = plan.tokenizer;
  if (!t.dir) return null;
  if (!existsSync(t.dir)) throw new TrainError(`${where}: tokenizer.dir: ${t.dir} is not there`);
  let tokenizer: Tokenizer;
  try {
    tokenizer = await loadTokenizer(t.dir);
  } catch (e) {
    throw new TrainError(
      `${where}: tokenizer.dir: cannot load the tokenizer in ${t.dir}: ${(e as Error).message}`,
    );
  }
  const ids = tokenizer.addTokens(t.added.map(({ content, special }) => ({ content, special })));
  t.added.forEach((a, i) => {
    if (a.id !== null && ids[i] !== a.id)
      throw new TrainError(
        `${where}: tokenizer.added.${i}: \`${a.content}\` gets id ${ids[i]} from ${t.dir}, the plan trained id ${a.id}: the tokenizer changed; ${rebuildHint(plan)}`,
      );
  });
  for (const role of ["bos", "eos", "pad"] as const) {
    const fact = t[role];
    if (fact && tokenizer[`${role}Token`] !== fact.text && tokenizer.tokenToId(fact.text) === fact.id)
      tokenizer.setSpecialToken(role, fact.text);
  }
  return tokenizer;
}

function modelSourceOf(plan: Plan, where: string): ModelSource {
  const { source } = plan.model;
  switch (source.kind) {
    case "architecture":
      // No config.json: the model is built from the plan's numbers (ids of bos/eos are not known).
      return { config: modelConfigOfPlan(plan), seed: plan.seed };
    case "path":
    case "hub":
      if (!source.path) throw new TrainError(`${where}: model.source.path: the plan names no model folder`);
      if (!existsSync(source.path))
        throw new TrainError(
          `${where}: model.source.path: model folder not found: ${source.path}${source.hub ? ` (${source.hub}@${source.revision})` : ""}`,
        );
      return { dir: source.path };
    default:
      return unreachable(source.kind, "model source");
  }
}
