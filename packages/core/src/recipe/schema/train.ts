import { z } from "zod";
import { fraction, nonNegativeInt, positiveInt } from "./common.ts";

export const backendNames = ["auto", "tensorflow", "wasm", "cpu"] as const;

export const OptimizerSchema = z
  .strictObject({
    betas: z.tuple([fraction(), fraction()]).default([0.9, 0.999]).describe("AdamW beta1, beta2."),
    eps: z.number().positive().default(1e-8).describe("AdamW epsilon."),
    weightDecay: z.number().min(0).default(0).describe("Decoupled weight decay (never on norms and biases)."),
  })
  .prefault({})
  .describe("AdamW settings.");

export const EvalSchema = z
  .strictObject({
    every: positiveInt().optional().describe("Evaluate every N optimizer steps (default: once per epoch)."),
    maxSamples: positiveInt().optional().describe("Cap on eval samples per evaluation."),
  })
  .prefault({})
  .describe("Evaluation on the sources' eval splits.");

export const TrainSchema = z
  .strictObject({
    epochs: z
      .number()
      .positive()
      .optional()
      .describe("Passes over the mix (default 1 when `steps` is unset)."),
    steps: positiveInt().optional().describe("Optimizer steps; overrides `epochs`."),
    learningRate: z
      .number()
      .positive()
      .optional()
      .describe(
        "Peak learning rate (default by method: 2e-5 full/partial, 2e-4 lora/qlora, 1e-3 frozen, 1e-2 prefix).",
      ),
    schedule: z.enum(["cosine", "linear", "constant"]).default("cosine").describe("Decay after warmup."),
    warmupSteps: nonNegativeInt().optional().describe("Linear warmup steps."),
    warmupRatio: z
      .number()
      .min(0)
      .lt(1)
      .optional()
      .describe("Warmup as a fraction of all steps (default 0.03)."),
    minLearningRateRatio: z
      .number()
      .min(0)
      .max(1)
      .default(0)
      .describe("Floor of the decay, as a fraction of the peak."),
    optimizer: OptimizerSchema,
    tokensPerMicroBatch: positiveInt()
      .optional()
      .describe("Token budget of a micro-batch (rows × padded length); default 4096."),
    microBatchSize: positiveInt()
      .optional()
      .describe("Fixed rows per micro-batch (instead of a token budget)."),
    gradientAccumulation: positiveInt().default(1).describe("Micro-batches per optimizer step."),
    maxLength: positiveInt().default(1024).describe("Longest sample in tokens."),
    overLength: z
      .enum(["truncate", "drop", "error"])
      .default("drop")
      .describe(
        "Samples longer than maxLength: cut (may lose the EOS), drop (counted in the plan), or stop.",
      ),
    packing: z.boolean().default(false).describe("Pack several samples per row (block-diagonal attention)."),
    lossOn: z
      .enum(["assistant", "all", "last"])
      .default("assistant")
      .describe("Which tokens are trained: assistant turns, everything, or the last assistant turn."),
    eos: z
      .enum(["turn", "last", "none"])
      .default("turn")
      .describe("Train the end-of-turn/EOS token after every trained turn, only the last, or never."),
    clipNorm: z.number().min(0).default(1).describe("Global gradient-norm clipping (0 disables)."),
    skipNonFinite: positiveInt()
      .optional()
      .describe(
        "Micro-batches with a non-finite loss (NaN, ±Infinity), or in a step whose gradient norm is not finite, the run may skip: their gradients are dropped (a refused step's update is not applied; each of its micro-batches counts), each is logged with its rows and counted (`skipped`) in metrics.jsonl and the summary; one more stops the run. Absent: the first stops it.",
      ),
    eval: EvalSchema,
    checkpointEvery: positiveInt().optional().describe("Write a checkpoint every N steps."),
    checkpointKeep: positiveInt()
      .optional()
      .describe(
        "Checkpoints kept on disk: the newest N plus the one with the best eval loss; older ones are deleted (default 3).",
      ),
    seed: z.number().int().default(42).describe("Seed of initialisation, dropout and shuffling."),
    neftuneAlpha: z
      .number()
      .positive()
      .optional()
      .describe(
        "NEFTune: while training, add uniform noise in ±alpha/sqrt(L·d) to the input embeddings (L: the batch's padded length, d: hidden size), as TRL and transformers do; never at evaluation or generation. The NEFTune paper uses 5 (also 10, 15). Seeded like dropout, so a resume repeats it.",
      ),
    engine: z
      .string()
      .regex(
        /^(auto|[a-z][a-z0-9-]*|tfjs\/(auto|tensorflow|wasm|cpu))$/,
        "an engine name (`auto`, `tfjs`, a registered engine) or `tfjs/<backend>` (tensorflow, wasm, cpu)",
      )
      .default("auto")
      .describe(
        "Engine that runs the plan (`auto`: the first available); `tfjs/wasm`, `tfjs/cpu`, `tfjs/tensorflow` also pick the tfjs backend.",
      ),
    backend: z
      .enum(backendNames)
      .optional()
      .describe(
        'Deprecated (sft/backend-deprecated): use `engine: "tfjs/<backend>"`. TensorFlow.js backend.',
      ),
    threads: positiveInt().optional().describe("wasm threads (default: the core count)."),
    gradientCheckpointing: z
      .boolean()
      .default(false)
      .describe("Recompute each layer in backward to save activation memory."),
  })
  .superRefine((t, ctx) => {
    if (t.tokensPerMicroBatch !== undefined && t.microBatchSize !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["microBatchSize"],
        message: "give either `tokensPerMicroBatch` or `microBatchSize`, not both",
      });
    }
    if (t.warmupSteps !== undefined && t.warmupRatio !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["warmupRatio"],
        message: "give either `warmupSteps` or `warmupRatio`, not both",
      });
    }
    if (t.tokensPerMicroBatch !== undefined && t.tokensPerMicroBatch < t.maxLength) {
      ctx.addIssue({
        code: "custom",
        path: ["tokensPerMicroBatch"],
        message: `a micro-batch of ${t.tokensPerMicroBatch} tokens cannot hold one sample of maxLength ${t.maxLength}`,
        params: { hint: "raise tokensPerMicroBatch to at least maxLength" },
      });
    }
  })
  .prefault({})
  .describe("The training loop.");

export const OutputSchema = z
  .strictObject({
    dir: z
      .string()
      .min(1)
      .optional()
      .describe("Output folder, relative to the recipe (default `out/<recipe name>`)."),
    save: z
      .enum(["adapter", "merged", "both"])
      .optional()
      .describe(
        "What to write: a PEFT adapter, a merged HF model, or both (default: adapter for lora/qlora/prefix, merged otherwise).",
      ),
    baseModelName: z
      .string()
      .min(1)
      .optional()
      .describe(
        "The base model adapters name (`base_model_name_or_path`), written as is, e.g. a hub id or a cluster path (default: the hub id for a cache model, else its folder relative to the adapter).",
      ),
  })
  .prefault({})
  .describe("Where artefacts go.");
