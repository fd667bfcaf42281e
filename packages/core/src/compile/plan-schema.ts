// The execution plan: versioned, plain JSON, validated by its own schema when written and read.
// The plan is the program: train(plan) runs from it and the data cache it names, never the recipe.
// Decisions (the runtime does exactly these): recipe, model, tokenizer, template, method, data, batching,
// optimizer, backend, engine, recompute, probes, eval, checkpoints, output, seed, neftune.
// Estimates (shown, never obeyed): parameterGroups, parameters, memory, kernels, gpu, warnings; but the
// cuda engine reserves memory.arena at run start, and its gpu section's micro-batch is batching's.
// Fields added after version 1 are optional, so older plans still read; the runtime says what they lack.
import { z } from "zod";
import { MethodSchema } from "../methods/registry.ts";
import { hasFamily, ModelConfigSchema } from "../model/families/index.ts";

export const PLAN_VERSION = 1;

const int = () => z.number().int().nonnegative();
const bytes = () => z.number().nonnegative();

const TokenFactSchema = z.object({ text: z.string(), id: int() }).nullable();

export const ParameterGroupSchema = z.object({
  name: z.string().describe("e.g. `layers.0-3.self_attn`, `embed_tokens (new rows)`, `lora_A/B`"),
  role: z.enum(["trainable", "frozen", "quantized"]),
  tensors: int(),
  parameters: int(),
  dtype: z
    .enum(["float32", "bfloat16", "float16", "nf4"])
    .describe("How the engine stores them: float32, the checkpoint's bf16/f16 (native, frozen) or NF4."),
  bytesPerParameter: z
    .number()
    .positive()
    .optional()
    .describe("Bytes per parameter in that storage (NF4: 0.5 plus its absmax constants)."),
  bytes: bytes(),
});

export const SourcePlanSchema = z.object({
  name: z.string(),
  format: z.string(),
  files: z.array(z.string()),
  rows: int().nullable().describe("Rows read (null when the data was not read)."),
  badRows: int(),
  filtered: z.record(z.string(), int()),
  trainRows: int().nullable(),
  evalRows: int().nullable(),
  tokens: int().nullable().describe("Tokens in the train rows."),
  trainedTokens: int().nullable().describe("Tokens with a label (not masked)."),
  longest: int().nullable(),
  overLength: int().describe("Samples dropped or truncated for exceeding maxLength."),
  weight: z.number().nullable(),
  samplesPerEpoch: int().nullable().describe("Effective samples per epoch after weighting."),
});

export const PlanSchema = z.object({
  version: z.literal(PLAN_VERSION),
  sftkit: z.string(),
  recipe: z.object({
    name: z.string(),
    file: z.string().nullable(),
    hash: z.string(),
    overrides: z
      .array(z.object({ path: z.string(), value: z.unknown() }))
      .optional()
      .describe("Values set over the recipe file's (`--set`, a sweep trial's axes), in the order applied."),
  }),
  model: z.object({
    source: z.object({
      kind: z.enum(["path", "hub", "architecture"]),
      path: z.string().nullable(),
      hub: z.string().nullable(),
      revision: z.string().nullable(),
    }),
    architecture: z
      .string()
      .refine(hasFamily, { error: (i) => `model family ${JSON.stringify(i.input)} is not registered` })
      .describe("The model family (model/families), e.g. llama, qwen2, mistral."),
    // The family registry's parsed configuration, less what the plan records elsewhere (vocab, dtype, tokens).
    config: ModelConfigSchema.pick({
      hiddenSize: true,
      intermediateSize: true,
      numLayers: true,
      numHeads: true,
      numKvHeads: true,
      headDim: true,
      maxPositionEmbeddings: true,
      ropeTheta: true,
      ropeScaling: true,
      rmsNormEps: true,
      tieWordEmbeddings: true,
      attentionBias: true,
      mlpBias: true,
      slidingWindow: true,
      layerTypes: true,
      qkNorm: true,
      hiddenAct: true,
      normUnitOffset: true,
      embeddingScale: true,
      sandwichNorms: true,
      queryPreAttnScalar: true,
      attnLogitSoftcap: true,
      finalLogitSoftcap: true,
      ropeLocalTheta: true,
    }),
    parameters: int().describe("Parameters of the base model, before added tokens."),
    layers: int(),
    vocab: z.object({ model: int(), tokenizer: int().nullable(), added: int(), total: int() }),
    dtype: z.string().describe("Checkpoint dtype; training runs in float32."),
  }),
  tokenizer: z.object({
    dir: z.string().nullable(),
    bos: TokenFactSchema,
    eos: TokenFactSchema,
    pad: TokenFactSchema,
    added: z.array(
      z.object({
        content: z.string(),
        id: int().nullable(),
        special: z.boolean(),
        init: z.enum(["mean", "noise", "describe"]),
        description: z.string().nullable(),
      }),
    ),
  }),
  template: z.object({
    source: z.enum(["model", "builtin", "inline", "file"]),
    name: z.string().nullable(),
    hash: z.string().nullable(),
    endOfTurn: z.string().nullable(),
    text: z.string().nullable().optional().describe("The chat template trained with (null: none is used)."),
  }),
  // The recipe's method with every default applied: the one decision the runtime builds from.
  method: MethodSchema,
  parameterGroups: z.array(ParameterGroupSchema),
  parameters: z.object({
    total: int(),
    trainable: int(),
    frozen: int(),
    quantized: int(),
    trainableFraction: z.number(),
  }),
  data: z.object({
    sources: z.array(SourcePlanSchema),
    masking: z.object({
      lossOn: z.enum(["assistant", "all", "last"]),
      eos: z.enum(["turn", "last", "none"]),
    }),
    maxLength: int(),
    overLength: z.enum(["truncate", "drop", "error"]),
    packing: z.boolean(),
    seed: z.number().int(),
    samplesPerEpoch: int().nullable(),
    tokensPerEpoch: int().nullable(),
    evalSamples: int().nullable(),
    cache: z.object({
      dir: z.string().nullable(),
      hit: z.boolean().nullable(),
      keys: z
        .record(z.string(), z.string().nullable())
        .optional()
        .describe("Each source's content-keyed cache entry under dir (null: not cached); train reads these."),
      bytes: bytes()
        .optional()
        .describe("About the bytes of those entries (the tokenized samples) under dir."),
    }),
  }),
  batching: z.object({
    mode: z.enum(["bucketed", "fixed", "packed"]),
    tokensPerMicroBatch: int().nullable(),
    microBatchSize: int().nullable(),
    gradientAccumulation: int(),
    microBatchesPerEpoch: int().nullable(),
    paddingFraction: z.number().nullable(),
  }),
  optimizer: z.object({
    name: z.literal("adamw"),
    learningRate: z.number(),
    betas: z.tuple([z.number(), z.number()]),
    eps: z.number(),
    weightDecay: z.number(),
    clipNorm: z.number(),
    schedule: z.object({
      kind: z.enum(["cosine", "linear", "constant"]),
      warmupSteps: int().nullable(),
      totalSteps: int().nullable(),
      minLearningRateRatio: z.number(),
    }),
    epochs: z.number().nullable(),
    stepsPerEpoch: int().nullable(),
    groups: z
      .array(
        z.object({
          name: z.string(),
          pattern: z.string().describe("A regular expression over the trainable tensors' names."),
          learningRateRatio: z.number(),
          learningRate: z.number().describe("The peak rate: learningRate × learningRateRatio."),
        }),
      )
      .optional()
      .describe("Tensors with their own learning rate (e.g. LoRA+'s B); absent: one rate for all."),
  }),
  memory: z.object({
    weights: z.record(z.string(), bytes()).describe("Bytes of weights by storage dtype."),
    gradients: bytes(),
    optimizerState: bytes(),
    activationsPerToken: bytes(),
    activations: bytes(),
    logits: bytes(),
    scratch: bytes()
      .optional()
      .describe("Per-thread conversion tiles (bf16/f16/NF4 -> f32), when the engine says."),
    runtime: bytes().optional().describe("The process itself (runtime, libraries), when the engine says."),
    arena: bytes()
      .optional()
      .describe(
        "Bytes the engine reserves on its GPU at run start and allocates its buffers from (the cuda engine: peak less runtime); the run fails there if the GPU's free memory is less.",
      ),
    workspace: bytes(),
    peak: bytes(),
    device: z.object({ backend: z.string(), bytes: bytes(), note: z.string() }),
    fits: z.boolean(),
    gradientCheckpointing: z.boolean(),
  }),
  backend: z.object({
    requested: z.string(),
    chosen: z.string(),
    available: z.array(z.string()),
    threads: int(),
    reason: z.string(),
    native: z
      .object({ active: z.boolean(), reason: z.string() })
      .optional()
      .describe("The optional native tier (@sftkit/native) on wasm: BLAS matmuls and fused kernels."),
  }),
  engine: z
    .object({
      requested: z.string(),
      chosen: z.string(),
      reason: z.string(),
      available: z.array(z.object({ name: z.string(), available: z.boolean(), reason: z.string() })),
    })
    .optional()
    .describe("The engine that runs the plan and why (plans made before engines existed ran tfjs)."),
  recompute: z
    .object({
      layers: z
        .boolean()
        .describe("Each decoder layer is recomputed in the backward pass (gradient checkpointing)."),
      reason: z.string(),
    })
    .optional()
    .describe("The runtime's recompute decision (memory and gpu hold what the estimates assumed)."),
  kernels: z.array(z.object({ op: z.string(), formulation: z.string() })),
  gpu: z
    .object({
      device: z.object({ name: z.string(), bytes: bytes(), simulated: z.boolean() }),
      usableBytes: bytes(),
      residentBytes: bytes().describe("Weights, gradients and optimizer state."),
      gradientCheckpointing: z.boolean(),
      buckets: z.array(
        z.object({ length: int(), rows: int(), tokensPerMicroBatch: int(), peakBytes: bytes() }),
      ),
      distinctShapes: int(),
      note: z.string(),
    })
    .nullable()
    .optional()
    .describe(
      "Micro-batch rows per length bucket sized for a GPU (tensorflow backend or $SFTKIT_GPU_MEMORY: shown, not obeyed), or for the cuda engine the micro-batch of maxLength rows that fills its GPU, the most batching's micro-batches may take when the recipe gives none (the recipe's step is split into as few as hold it); absent otherwise.",
    ),
  probes: z
    .object({
      count: int(),
      rate: z.number(),
      samplesPerEpoch: int().nullable(),
      answerSpace: int(),
      chance: z.number().describe("Recall a guesser would get: 1 / answer space."),
      tokens: z.array(z.string()),
      facts: z
        .array(z.object({ token: z.string(), question: z.string(), answer: z.string() }))
        .optional()
        .describe("The taught facts recall is measured on."),
    })
    .nullable()
    .describe("Knowledge probes mixed into training (null without them)."),
  eval: z.object({ every: int().nullable(), maxSamples: int().nullable() }),
  checkpoints: z.object({
    every: int().nullable(),
    keep: int().default(3).describe("Newest checkpoints kept, plus the best by eval loss."),
  }),
  disk: z
    .object({
      checkpoint: bytes().describe("One checkpoint: trainable values and AdamW's two moments (float32)."),
      checkpointsHeld: int().describe(
        "Checkpoints on disk at once: the newest `keep`, the best, the one being written.",
      ),
      artefacts: bytes().describe("Adapter and/or merged model (float32) and the small files beside them."),
      dataCache: bytes()
        .optional()
        .describe("The tokenized data cache the plan names (data.cache.bytes, under data.cache.dir)."),
      total: bytes(),
    })
    .optional()
    .describe(
      "Bytes the run puts on disk: under output.dir and, for the data cache, data.cache.dir; `sft run` checks them against the free space there first.",
    ),
  output: z.object({
    dir: z.string(),
    save: z.enum(["adapter", "merged", "both"]),
    baseModelName: z
      .string()
      .nullable()
      .optional()
      .describe("The base model's name in artefacts (output.baseModelName; null: from the model source)."),
  }),
  seed: z.number().int(),
  neftune: z
    .object({ alpha: z.number().positive() })
    .optional()
    .describe(
      "NEFTune: uniform noise of ±alpha/sqrt(L·d) on the input embeddings while training (absent: none).",
    ),
  nonFinite: z
    .object({ skip: int().describe("Micro-batches with a non-finite loss skipped before the run stops.") })
    .optional()
    .describe("train.skipNonFinite (absent: the first non-finite loss stops the run)."),
  warnings: z.array(
    z.object({ id: z.string(), message: z.string(), path: z.string(), acknowledged: z.boolean() }),
  ),
});

export type Plan = z.infer<typeof PlanSchema>;
export type ParameterGroup = z.infer<typeof ParameterGroupSchema>;
export type SourcePlan = z.infer<typeof SourcePlanSchema>;
