// Mappings both targets share: batch size, schedule, precision, DeepSpeed, layer classes, per-turn training flags.

import { isAbsolute, relative } from "node:path";
import { DEFAULT_TOKENS_PER_MICRO_BATCH } from "../compile/plan.ts";
import { modelConfigOfPlan } from "../compile/plan-model.ts";
import type { Plan } from "../compile/plan-schema.ts";
import type { Conversation } from "../data/types.ts";
import type { ExportFacts, ExportNote, WholeTensors } from "../methods/definition.ts";
import { methodDefinition } from "../methods/registry.ts";
import { hfModuleNames } from "../model/config.ts";
import { familyNamed } from "../model/families/index.ts";
import type { PathSegment, Problem } from "../recipe/diagnostics.ts";
import type { Recipe } from "../recipe/schema/recipe.ts";
import { baseModelOf } from "./base-model.ts";
import type { ExportContext } from "./types.ts";

/** A recipe setting the target cannot express: the export stops. */
export function unsupported(path: PathSegment[], message: string, hint?: string): Problem {
  return { severity: "error", code: "sft/export-unsupported", message, path, ...(hint ? { hint } : {}) };
}

/** A setting the target expresses only approximately: exported, and said. */
export function approximate(path: PathSegment[], message: string, hint?: string): Problem {
  return { severity: "warning", code: "sft/export-approximate", message, path, ...(hint ? { hint } : {}) };
}

/** Rows per micro-batch per GPU: fixed, or what the token budget holds at maxLength. */
export function microBatchSize(recipe: Recipe): number {
  const t = recipe.train;
  if (t.microBatchSize !== undefined) return t.microBatchSize;
  const budget = Math.max(t.tokensPerMicroBatch ?? DEFAULT_TOKENS_PER_MICRO_BATCH, t.maxLength);
  return Math.max(1, Math.floor(budget / t.maxLength));
}

/** Integer warmup steps as compile planned them (a ratio becomes steps once the data is known). */
export function warmupSteps(ctx: ExportContext): number {
  return ctx.plan.optimizer.schedule.warmupSteps ?? ctx.recipe.train.warmupSteps ?? 0;
}

/** HF scheduler name; a decay floor needs cosine (`cosine_min_lr_ratio` / `cosine_with_min_lr`). */
export function scheduler(recipe: Recipe, problems: Problem[]): { name: string; minRatio: number | null } {
  const t = recipe.train;
  const minRatio = t.minLearningRateRatio > 0 ? t.minLearningRateRatio : null;
  if (minRatio !== null && t.schedule !== "cosine") {
    problems.push(
      unsupported(
        ["train", "minLearningRateRatio"],
        `a learning-rate floor with the \`${t.schedule}\` schedule has no equivalent in the exported scheduler`,
        'use schedule: "cosine", or minLearningRateRatio: 0',
      ),
    );
  }
  const name = t.schedule === "constant" ? "constant_with_warmup" : t.schedule;
  return { name, minRatio: t.schedule === "cosine" ? minRatio : null };
}

export function precision(recipe: Recipe): { bf16: boolean; fp16: boolean } {
  return { bf16: recipe.scale.precision === "bf16", fp16: recipe.scale.precision === "fp16" };
}

export function activationCheckpointing(recipe: Recipe): boolean {
  return recipe.scale.activationCheckpointing || recipe.train.gradientCheckpointing;
}

/** transformers' decoder layer class of the plan's model family (what FSDP wraps). */
export function decoderLayerClass(plan: Plan): string {
  return familyNamed(plan.model.architecture).decoderLayerClass;
}

/** LoRA targets (the recipe's linear roles) as transformers names the modules in the plan's model family. */
export function targetModuleNames(plan: Plan, roles: readonly string[]): string[] {
  return hfModuleNames(modelConfigOfPlan(plan), roles);
}

/** DeepSpeed config for a ZeRO stage; "auto" values are filled by the HF Trainer from its own arguments. */
export function deepspeedConfig(recipe: Recipe): Record<string, unknown> {
  const { strategy, cpuOffload, precision: p } = recipe.scale;
  const stage = strategy === "zero1" ? 1 : strategy === "zero2" ? 2 : 3;
  const offload = { device: "cpu", pin_memory: true };
  const zero: Record<string, unknown> = {
    stage,
    overlap_comm: true,
    contiguous_gradients: true,
    reduce_bucket_size: "auto",
    ...(cpuOffload ? { offload_optimizer: offload } : {}),
  };
  if (stage === 3) {
    Object.assign(zero, {
      ...(cpuOffload ? { offload_param: offload } : {}),
      stage3_prefetch_bucket_size: "auto",
      stage3_param_persistence_threshold: "auto",
      stage3_max_live_parameters: 1e9,
      stage3_max_reuse_distance: 1e9,
      stage3_gather_16bit_weights_on_model_save: true,
    });
  }
  return {
    zero_optimization: zero,
    bf16: { enabled: p === "bf16" ? "auto" : false },
    fp16: { enabled: p === "fp16" ? "auto" : false },
    gradient_accumulation_steps: "auto",
    gradient_clipping: "auto",
    train_batch_size: "auto",
    train_micro_batch_size_per_gpu: "auto",
    wall_clock_breakdown: false,
  };
}

/**
 * Which assistant turns are trained, as a per-message flag (undefined for other roles): a turn marked
 * `train: false` is not, and with lossOn "last" only the last eligible one is.
 */
export function trainingFlags(
  conv: Conversation,
  lossOn: Recipe["train"]["lossOn"],
): (boolean | undefined)[] {
  const eligible = conv.messages.flatMap((m, i) => (m.role === "assistant" && m.train !== false ? [i] : []));
  const last = eligible[eligible.length - 1];
  return conv.messages.map((m, i) => {
    if (m.role !== "assistant") return undefined;
    if (m.train === false) return false;
    return lossOn === "last" ? i === last : true;
  });
}

export function jsonl(rows: unknown[]): string {
  return rows.map((r) => `${JSON.stringify(r)}\n`).join("");
}

/**
 * Parameter-name regexes (HF Llama names) for the whole tensors a method trains, for re.match in Python (TRL's
 * train.py). Axolotl reads `.` differently: see axolotl-patterns.ts.
 */
export function wholeTensorRegexes(w: WholeTensors): string[] {
  const out: string[] = [];
  if (w.layers.length > 0) out.push(`^model\\.layers\\.(?:${w.layers.join("|")})\\.`);
  // sftkit tests module patterns anywhere in the name (RegExp.test), never on the embedding or lm_head.
  for (const p of w.modules) out.push(`^(?!model\\.embed_tokens\\.|lm_head\\.).*(?:${p})`);
  if (w.embedding) out.push("^model\\.embed_tokens\\.");
  if (w.lmHead) out.push("^lm_head\\.");
  if (w.norms) out.push("^model\\.(?:norm|layers\\.\\d+\\.(?:input_layernorm|post_attention_layernorm))\\.");
  return out;
}

/** The new tokens whose rows the method trains on their own (all new ones, or those named). */
export function trainedNewTokens(ctx: ExportContext): { content: string; id: number }[] {
  const { method } = ctx.recipe;
  const selection = methodDefinition(method).newTokenRows(method);
  if (selection === false) return [];
  const names = selection === true ? null : selection;
  return ctx.resolved.added
    .filter((a) => a.isNew && a.id !== null)
    .filter((a) => names === null || names.includes(a.content))
    .map((a) => ({ content: a.content, id: a.id as number }));
}

/** What the method mapping of either target reads from the export. */
export function exportFacts(ctx: ExportContext, newTokenIds: number[]): ExportFacts {
  return {
    tied: ctx.plan.model.config.tieWordEmbeddings,
    numLayers: ctx.plan.model.layers,
    strategy: ctx.recipe.scale.strategy,
    dtype: torchDtype(ctx.recipe),
    newTokenIds,
    anyNewTokens: ctx.resolved.added.some((a) => a.isNew),
    tokenIndices: (ids) => trainableTokenIndices(ctx, ids),
    save: ctx.plan.output.save,
    targetModules: (roles) => targetModuleNames(ctx.plan, roles),
  };
}

const noteAs: Record<ExportNote["kind"], typeof unsupported> = { unsupported, approximate };

/** A method's export note as a problem of this export. */
export function noteProblem(n: ExportNote): Problem {
  return noteAs[n.kind](n.path, n.message, n.hint);
}

/** torch's dtype name for the recipe's precision. */
export function torchDtype(recipe: Recipe): string {
  const p = precision(recipe);
  return p.bf16 ? "bfloat16" : p.fp16 ? "float16" : "float32";
}

/**
 * Where the engine loads the base model from, portable to another machine: the `--base-model` value, else the
 * hub id for a model from the hub cache, else the folder relative to the export (launch.sh runs from there).
 */
export function modelReference(ctx: ExportContext): string {
  if (ctx.baseModel !== undefined) return ctx.baseModel;
  // The same decision as the adapter's base_model_name_or_path: a set name, a hub id (also for a path into
  // the hub cache), else the folder.
  const source = ctx.plan.model.source;
  const base = baseModelOf(source, ctx.recipe.output.baseModelName);
  if ("id" in base && base.id) return base.id;
  return exportRelative(ctx, ctx.resolved.model?.dir ?? source.path ?? "");
}

/** The tokenizer folder when the recipe names its own (relative to the export), else null: the model's. */
export function tokenizerReference(ctx: ExportContext): string | null {
  if (!ctx.recipe.tokenizer || !ctx.resolved.tokenizerDir) return null;
  return exportRelative(ctx, ctx.resolved.tokenizerDir);
}

/** A local folder as seen from the export folder; `./` keeps it from reading as a hub id. */
export function exportRelative(ctx: ExportContext, dir: string): string {
  if (!isAbsolute(dir)) return dir;
  const rel = relative(ctx.out, dir);
  if (rel === "") return ".";
  return isAbsolute(rel) || rel.startsWith("..") ? rel : `./${rel}`;
}

export { selectedLayers } from "../methods/partial.ts";
export { MIN_PEFT_TRAINABLE_TOKENS } from "../methods/peft.ts";

/**
 * Rows of new tokens per module, as PEFT's `trainable_token_indices` takes them: a flat list trains the input
 * embedding only (a tied lm_head follows it); an untied lm_head needs its own key, as sftkit trains both tables.
 */
export function trainableTokenIndices(
  ctx: ExportContext,
  ids: number[],
): number[] | { embed_tokens: number[]; lm_head: number[] } {
  return ctx.plan.model.config.tieWordEmbeddings ? ids : { embed_tokens: ids, lm_head: ids };
}
