// plan: resolved facts -> the Plan (parameter groups, data and batching, optimizer schedule, memory, backend).

import { readFileSync } from "node:fs";
import { PROBES_SOURCE, probeAnswerSpace } from "../data/probes.ts";
import type { EngineKernelsInput } from "../engines/engine.ts";
import { decideEngine, engineDefinition } from "../engines/index.ts";
import { methodDefinition } from "../methods/registry.ts";
import { beyondLlama, decoderFeatureFields, decoderFeatures, familyOf } from "../model/families/index.ts";
import { nativeAvailability } from "../model/native/load.ts";
import { learningRateOf } from "../recipe/checks.ts";
import { formatPath, type Problem } from "../recipe/diagnostics.ts";
import type { Recipe } from "../recipe/schema/recipe.ts";
import { decideBackend } from "./backend-choice.ts";
import { diskEstimate } from "./disk-estimate.ts";
import { planEngineGpu } from "./engine-gpu.ts";
import { findGpu, type GpuPlan, planGpu } from "./gpu-plan.ts";
import { estimateMemory } from "./memory.ts";
import { allFloat32, planParameters, summarizeParameters } from "./params.ts";
import { PLAN_VERSION, type Plan, PlanSchema, type SourcePlan } from "./plan-schema.ts";
import { type ResolvedRecipe, sha256 } from "./resolve.ts";
import { scheduleFacts } from "./schedule-facts.ts";

/** What the data stage learned; numbers stay null when the data was not read. */
export interface DataFacts {
  sources: SourcePlan[];
  samplesPerEpoch: number | null;
  tokensPerEpoch: number | null;
  evalSamples: number | null;
  microBatchesPerEpoch: number | null;
  paddingFraction: number | null;
  /** Longest padded row of any micro-batch (for the attention term of the memory model). */
  longestRow: number | null;
  cacheDir: string | null;
  cacheHit: boolean | null;
  /** Each source's cache entry key (null when not cached). */
  cacheKeys: Record<string, string | null>;
  /** About the bytes of those entries (the tokenized data) in cacheDir. */
  cacheBytes: number;
  /** The first epoch's sample lengths in mixed order (absent when the data was not read). */
  lengths?: readonly number[];
}

export const DEFAULT_TOKENS_PER_MICRO_BATCH = 4096;

const version = (() => {
  try {
    return (
      JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }
    ).version;
  } catch {
    return "0.0.0";
  }
})();

export function buildPlan(resolved: ResolvedRecipe, facts: DataFacts, problems: Problem[]): Plan {
  const { recipe, model } = resolved;
  if (!model) throw new Error("buildPlan needs a resolved model");
  const cfg = model.config;
  const train = recipe.train;

  const vocab = planVocabulary(resolved, cfg);
  const engine = chooseEngine(recipe, cfg);
  // Frozen tensors as the chosen engine stores them (tfjs: float32).
  const storage = engineDefinition(engine.chosen)?.memory?.frozenStorage ?? allFloat32;
  const { groups } = planParameters(cfg, vocab.total, vocab.added, recipe.method, storage);
  // An engine on a GPU splits the recipe's optimizer step into micro-batches that fit it, when the
  // recipe leaves the micro-batch open: the step's tokens stay the recipe's (the GPU never changes what
  // the model learns from), and the schedule follows the micro-batches.
  const engineGpu = engineGpuPlan(recipe, cfg, vocab.total, groups, engine.chosen, facts.longestRow);
  const fit = sizesMicroBatch(train) ? engineGpu?.buckets[0]?.tokensPerMicroBatch : undefined;
  const sized = fit !== undefined ? stepInMicroBatches(train, fit) : undefined;
  if (engineGpu && !sizesMicroBatch(train))
    engineGpu.note += "; the recipe's micro-batch is kept (train.tokensPerMicroBatch or microBatchSize)";
  if (engineGpu && fit !== undefined && sized)
    engineGpu.note += `; the recipe's step of ${sized.tokensPerMicroBatch * sized.gradientAccumulation} tokens is kept: ${sized.gradientAccumulation} micro-batch(es) of ${sized.tokensPerMicroBatch} tokens where ${fit} would fit (set train.tokensPerMicroBatch and gradientAccumulation for larger steps)`;
  const data =
    sized !== undefined && facts.lengths?.length
      ? { ...facts, ...scheduleFacts(facts.lengths, train, recipe.data.seed, sized.tokensPerMicroBatch) }
      : facts;
  const batching = planBatching(train, data, sized);
  const compute = planCompute(recipe, cfg, vocab.total, groups, batching, data, engine, engineGpu);

  const plan: Plan = {
    version: PLAN_VERSION,
    sftkit: version,
    recipe: { name: resolved.name, file: resolved.file, hash: sha256(stableJson(recipe)) },
    model: modelSection(model, vocab),
    tokenizer: tokenizerSection(resolved),
    template: {
      source: resolved.template?.source ?? "model",
      name: resolved.template?.name ?? null,
      hash: resolved.template ? sha256(resolved.template.text) : null,
      endOfTurn: resolved.endOfTurn,
      text: resolved.template?.text ?? null,
    },
    method: stripFunctions(recipe.method) as Plan["method"],
    parameterGroups: groups,
    parameters: summarizeParameters(groups),
    data: dataSection(recipe, data),
    batching,
    optimizer: optimizerSection(recipe, data, batching.gradientAccumulation),
    memory: compute.memory,
    backend: compute.backend,
    engine: compute.engine,
    recompute: recomputeDecision(train.gradientCheckpointing, compute.gpu ?? null),
    kernels: compute.kernels,
    ...(compute.gpu ? { gpu: compute.gpu } : {}),
    probes: probesSection(resolved, data),
    eval: { every: train.eval.every ?? null, maxSamples: train.eval.maxSamples ?? null },
    checkpoints: { every: train.checkpointEvery ?? null, keep: train.checkpointKeep ?? 3 },
    output: {
      dir: resolved.outputDir,
      save: recipe.output.save ?? defaultSave(recipe.method),
      baseModelName: recipe.output.baseModelName ?? null,
    },
    seed: train.seed,
    ...(train.neftuneAlpha !== undefined ? { neftune: { alpha: train.neftuneAlpha } } : {}),
    ...(train.skipNonFinite !== undefined ? { nonFinite: { skip: train.skipNonFinite } } : {}),
    warnings: planWarnings(recipe, problems),
  };
  plan.disk = diskEstimate(plan);
  return PlanSchema.parse(plan);
}

type ModelConfig = NonNullable<ResolvedRecipe["model"]>["config"];

/** Added tokens take fresh ids after the tokenizer's vocabulary; the embedding grows only past the model's rows. */
function planVocabulary(resolved: ResolvedRecipe, cfg: ModelConfig): Plan["model"]["vocab"] {
  const tokenizerVocab = resolved.tokenizerVocab;
  const added = resolved.added;
  const highestId = Math.max(tokenizerVocab ?? 0, ...added.map((t) => (t.id ?? -1) + 1));
  return {
    model: cfg.vocabSize,
    tokenizer: tokenizerVocab,
    added: added.filter((t) => t.isNew).length,
    total: Math.max(cfg.vocabSize, highestId),
  };
}

/** Whether the recipe leaves the micro-batch to the planner (neither a token budget nor rows given). */
function sizesMicroBatch(train: Recipe["train"]): boolean {
  return train.tokensPerMicroBatch === undefined && train.microBatchSize === undefined;
}

/**
 * The recipe's optimizer step (its default micro-batch budget times gradientAccumulation) as micro-batches
 * of at most `fit` tokens (what a GPU plan found fits): as few as hold the step, each at least maxLength.
 */
export function stepInMicroBatches(
  train: Pick<Recipe["train"], "maxLength" | "gradientAccumulation">,
  fit: number,
): { tokensPerMicroBatch: number; gradientAccumulation: number } {
  const step = Math.max(DEFAULT_TOKENS_PER_MICRO_BATCH, train.maxLength) * train.gradientAccumulation;
  const gradientAccumulation = Math.ceil(step / Math.max(fit, train.maxLength));
  return {
    tokensPerMicroBatch: Math.max(train.maxLength, Math.ceil(step / gradientAccumulation)),
    gradientAccumulation,
  };
}

/** `sized`: the micro-batches a GPU plan split the recipe's step into (the recipe gave no micro-batch). */
function planBatching(
  train: Recipe["train"],
  data: DataFacts,
  sized?: { tokensPerMicroBatch: number; gradientAccumulation: number },
): Plan["batching"] {
  return {
    mode: train.packing ? "packed" : train.microBatchSize !== undefined ? "fixed" : "bucketed",
    tokensPerMicroBatch:
      train.microBatchSize !== undefined
        ? null
        : (sized?.tokensPerMicroBatch ??
          Math.max(train.tokensPerMicroBatch ?? DEFAULT_TOKENS_PER_MICRO_BATCH, train.maxLength)),
    microBatchSize: train.microBatchSize ?? null,
    gradientAccumulation: sized?.gradientAccumulation ?? train.gradientAccumulation,
    microBatchesPerEpoch: data.microBatchesPerEpoch,
    paddingFraction: data.paddingFraction,
  };
}

/** Optimizer schedule: steps from the data when it was read, else only from `train.steps`. */
/** `accumulation`: micro-batches per step as the plan's batching has them. */
function optimizerSection(recipe: Recipe, data: DataFacts, accumulation: number): Plan["optimizer"] {
  const train = recipe.train;
  const stepsPerEpoch =
    data.microBatchesPerEpoch !== null
      ? Math.max(1, Math.ceil(data.microBatchesPerEpoch / accumulation))
      : null;
  const epochs = train.steps !== undefined ? null : (train.epochs ?? 1);
  const totalSteps =
    train.steps ?? (stepsPerEpoch !== null ? Math.ceil(stepsPerEpoch * (epochs ?? 1)) : null);
  const warmupSteps =
    train.warmupSteps ?? (totalSteps !== null ? Math.round((train.warmupRatio ?? 0.03) * totalSteps) : null);
  const learningRate = learningRateOf(recipe);
  const groups = (methodDefinition(recipe.method).learningRateGroups?.(recipe.method) ?? []).map((g) => ({
    name: g.name,
    pattern: g.pattern,
    learningRateRatio: g.ratio,
    learningRate: learningRate * g.ratio,
  }));
  return {
    name: "adamw",
    learningRate,
    betas: train.optimizer.betas,
    eps: train.optimizer.eps,
    weightDecay: train.optimizer.weightDecay,
    clipNorm: train.clipNorm,
    schedule: {
      kind: train.schedule,
      warmupSteps,
      totalSteps,
      minLearningRateRatio: train.minLearningRateRatio,
    },
    epochs,
    stepsPerEpoch,
    ...(groups.length ? { groups } : {}),
  };
}

/** The tfjs backend the recipe or $SFTKIT_BACKEND names (`tfjs/<backend>`, the deprecated `train.backend`). */
function requestedBackend(train: Recipe["train"], env = process.env): string {
  const fromEnv = env.SFTKIT_BACKEND;
  if (fromEnv && fromEnv !== "auto") return fromEnv;
  return train.engine.split("/")[1] ?? train.backend ?? "auto";
}

/** The engine that runs: by name, or `auto`'s first available one that can do what the recipe asks. */
function chooseEngine(recipe: Recipe, cfg: ModelConfig): Plan["engine"] & {} {
  const family = familyOf(cfg);
  return decideEngine(recipe.train.engine.split("/")[0] || "auto", process.env, {
    backend: requestedBackend(recipe.train),
    gpu: Boolean(process.env.SFTKIT_GPU_MEMORY),
    family: family.name,
    convertsWeights: family.readWeight !== undefined,
    modelNeeds: [...beyondLlama(cfg), ...decoderFeatures(cfg)],
    features: [
      ...(methodDefinition(recipe.method).engineFeatures?.(recipe.method) ?? []),
      ...(recipe.train.neftuneAlpha !== undefined
        ? [{ feature: "neftune" as const, path: "train.neftuneAlpha" }]
        : []),
    ],
    method: recipe.method,
  });
}

/** The GPU plan of an engine that runs on a GPU with its own memory model (cuda), else null. */
function engineGpuPlan(
  recipe: Recipe,
  cfg: ModelConfig,
  totalVocab: number,
  groups: Plan["parameterGroups"],
  engine: string,
  longestRow: number | null,
): GpuPlan | null {
  const model = engineDefinition(engine)?.memory;
  const gpu = model?.gpu?.();
  if (!model || !gpu) return null;
  const train = recipe.train;
  return planEngineGpu({
    device: gpu,
    maxLength: train.maxLength,
    gradientCheckpointing: train.gradientCheckpointing,
    estimate: (tokens, recompute) => {
      const m = estimateMemory({
        cfg,
        vocab: totalVocab,
        groups,
        method: recipe.method,
        tokensPerMicroBatch: tokens,
        // As the plan's memory section counts it (prefix tuning's keys per row depend on it).
        sequenceLength: Math.min(train.maxLength, longestRow ?? train.maxLength),
        gradientCheckpointing: recompute,
        device: model.device(),
        engine: model,
        threads: 1,
      });
      return {
        peak: m.peak,
        resident: Object.values(m.weights).reduce((a, b) => a + b, 0) + m.gradients + m.optimizerState,
      };
    },
  });
}

/** Where it runs (engine, backend, kernels, a GPU's buckets) and the memory that takes. */
function planCompute(
  recipe: Recipe,
  cfg: ModelConfig,
  totalVocab: number,
  groups: Plan["parameterGroups"],
  batching: Plan["batching"],
  data: DataFacts,
  engine: Plan["engine"] & {},
  engineGpu: GpuPlan | null,
): Pick<Plan, "memory" | "backend" | "engine" | "kernels" | "gpu"> {
  const train = recipe.train;
  const backend = decideBackend(train.engine.split("/")[1] ?? train.backend ?? "auto", train.threads);
  const native = backend.chosen === "wasm" ? nativeAvailability() : undefined;
  // An engine with its own memory model (native) fills its own device; tfjs fills its backend's.
  const engineMemory = engineDefinition(engine.chosen)?.memory;
  const memory = estimateMemory({
    cfg,
    vocab: totalVocab,
    groups,
    method: recipe.method,
    tokensPerMicroBatch: batching.tokensPerMicroBatch ?? train.microBatchSize! * train.maxLength,
    sequenceLength: Math.min(train.maxLength, data.longestRow ?? train.maxLength),
    gradientCheckpointing: engineGpu?.gradientCheckpointing ?? train.gradientCheckpointing,
    device: engineMemory?.device() ?? backend.device,
    native: native?.active ?? false,
    ...(engineMemory ? { engine: engineMemory, threads: backend.threads } : {}),
  });

  // A GPU (tensorflow backend, or a simulated one): rows per length bucket from the memory model.
  const gpuDevice = engineMemory ? null : findGpu(backend.chosen);
  const gpu = engineGpu
    ? engineGpu
    : gpuDevice
      ? planGpu({
          cfg,
          vocab: totalVocab,
          method: recipe.method,
          residentBytes:
            Object.values(memory.weights).reduce((a, b) => a + b, 0) +
            memory.gradients +
            memory.optimizerState,
          maxLength: train.maxLength,
          gradientCheckpointing: train.gradientCheckpointing,
          device: gpuDevice,
        })
      : null;
  return {
    memory,
    backend: {
      requested: backend.requested,
      chosen: backend.chosen,
      available: backend.available,
      threads: backend.threads,
      reason: backend.reason,
      ...(native ? { native } : {}),
    },
    engine,
    kernels: engineKernels(engine.chosen, { cfg, backend: backend.chosen, native: native?.active ?? false }),
    ...(gpu ? { gpu } : {}),
  };
}

/** The chosen engine's own kernels (the ops' kernel tiers describe tfjs only). */
function engineKernels(name: string, input: EngineKernelsInput): Plan["kernels"] {
  const def = engineDefinition(name);
  if (def?.kernels) return def.kernels(input);
  return [{ op: "*", formulation: `the ${name} engine does not describe its kernels` }];
}

function modelSection(
  model: NonNullable<ResolvedRecipe["model"]>,
  vocab: Plan["model"]["vocab"],
): Plan["model"] {
  const cfg = model.config;
  return {
    source: model.source,
    architecture: cfg.architecture,
    config: {
      hiddenSize: cfg.hiddenSize,
      intermediateSize: cfg.intermediateSize,
      numLayers: cfg.numLayers,
      numHeads: cfg.numHeads,
      numKvHeads: cfg.numKvHeads,
      headDim: cfg.headDim,
      maxPositionEmbeddings: cfg.maxPositionEmbeddings,
      ropeTheta: cfg.ropeTheta,
      ropeScaling: cfg.ropeScaling,
      rmsNormEps: cfg.rmsNormEps,
      tieWordEmbeddings: cfg.tieWordEmbeddings,
      attentionBias: cfg.attentionBias,
      mlpBias: cfg.mlpBias,
      // What the family adds to the Llama decoder (windows, q/k norms, Gemma's norms and caps), where set.
      ...decoderFeatureFields(cfg),
    },
    parameters: planParameters(cfg, cfg.vocabSize, 0, { kind: "full" }).groups.reduce(
      (a, g) => a + g.parameters,
      0,
    ),
    layers: cfg.numLayers,
    vocab,
    dtype: cfg.torchDtype,
  };
}

function tokenizerSection(resolved: ResolvedRecipe): Plan["tokenizer"] {
  const { recipe, tokenizer, added } = resolved;
  const tokenFact = (role: "bos" | "eos" | "pad") => {
    const ref = recipe.tokens[role];
    if (ref !== undefined) {
      if (typeof ref === "string") {
        const t = added.find((a) => a.content === ref);
        return t && t.id !== null ? { text: t.content, id: t.id } : null;
      }
      if ("vocab" in ref) {
        const id = tokenizer?.tokenToId(ref.vocab);
        return id === undefined ? null : { text: ref.vocab, id };
      }
      return {
        text: tokenizer?.idToToken(ref.id) ?? added.find((a) => a.id === ref.id)?.content ?? `#${ref.id}`,
        id: ref.id,
      };
    }
    const text = tokenizer ? tokenizer[`${role}Token`] : null;
    const id = tokenizer ? tokenizer[`${role}TokenId`] : null;
    return text !== null && id !== null ? { text, id } : null;
  };
  return {
    dir: resolved.tokenizerDir,
    bos: tokenFact("bos"),
    eos: tokenFact("eos"),
    pad: tokenFact("pad"),
    added: added.map(({ isNew: _isNew, ...t }) => t),
  };
}

function dataSection(recipe: Recipe, data: DataFacts): Plan["data"] {
  const train = recipe.train;
  return {
    sources: data.sources,
    masking: { lossOn: train.lossOn, eos: train.eos },
    maxLength: train.maxLength,
    overLength: train.overLength,
    packing: train.packing,
    seed: recipe.data.seed,
    samplesPerEpoch: data.samplesPerEpoch,
    tokensPerEpoch: data.tokensPerEpoch,
    evalSamples: data.evalSamples,
    cache: { dir: data.cacheDir, hit: data.cacheHit, keys: data.cacheKeys, bytes: data.cacheBytes },
  };
}

function probesSection(resolved: ResolvedRecipe, data: DataFacts): Plan["probes"] {
  const probes = resolved.recipe.probes;
  if (!resolved.probes || !probes) return null;
  return {
    count: resolved.probes.length,
    rate: probes.rate,
    samplesPerEpoch: data.sources.find((s) => s.name === PROBES_SOURCE)?.samplesPerEpoch ?? null,
    answerSpace: probeAnswerSpace(probes),
    chance: 1 / probeAnswerSpace(probes),
    tokens: resolved.probes.map((f) => f.token),
    facts: resolved.probes.map(({ token, question, answer }) => ({ token, question, answer })),
  };
}

/** A method that writes a PEFT adapter saves it by default; the others save the merged model. */
function defaultSave(method: Recipe["method"]): "adapter" | "merged" {
  return methodDefinition(method).adapter !== null ? "adapter" : "merged";
}

function planWarnings(recipe: Recipe, problems: Problem[]): Plan["warnings"] {
  return problems
    .filter((p) => p.severity === "warning")
    .map((p) => ({
      id: p.code,
      message: p.message,
      path: formatPath(p.path),
      acknowledged: (recipe.acknowledge as string[]).includes(p.code),
    }));
}

/** Whether layers are recomputed in backward: the recipe's flag, unless the GPU plan needs it on to fit a row. */
function recomputeDecision(
  requested: boolean,
  gpu: { gradientCheckpointing: boolean } | null,
): Plan["recompute"] {
  if (gpu?.gradientCheckpointing && !requested)
    return { layers: true, reason: "on: a row of maxLength fits the GPU only with it (gpu plan)" };
  return requested
    ? { layers: true, reason: "on: train.gradientCheckpointing" }
    : { layers: false, reason: "off: train.gradientCheckpointing is not set" };
}

/** JSON with sorted keys and functions named, so equal recipes hash equal. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === "function") return `[function ${(v as { name?: string }).name || "anonymous"}]`;
    if (v && typeof v === "object" && !Array.isArray(v)) {
      return Object.fromEntries(
        Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)),
      );
    }
    return v;
  });
}

function stripFunctions(value: unknown): unknown {
  return JSON.parse(stableJson(value));
}

export type { Plan };
export type RecipeMethod = Recipe["method"];
