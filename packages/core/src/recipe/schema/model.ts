import { z } from "zod";
import { positiveInt } from "./common.ts";

export const ArchitectureSchema = z
  .strictObject({
    type: z
      .enum(["llama", "qwen2", "mistral"])
      .default("llama")
      .describe("Model family (sets defaults such as Qwen2's q/k/v bias)."),
    vocabSize: positiveInt().describe("Vocabulary size before added tokens."),
    hiddenSize: positiveInt().describe("Model width d."),
    intermediateSize: positiveInt().describe("SwiGLU feed-forward width."),
    numLayers: positiveInt().describe("Number of decoder layers."),
    numHeads: positiveInt().describe("Attention (query) heads."),
    numKvHeads: positiveInt()
      .optional()
      .describe("Key/value heads for grouped-query attention; defaults to numHeads."),
    headDim: positiveInt().optional().describe("Per-head width; defaults to hiddenSize / numHeads."),
    maxPositionEmbeddings: positiveInt().default(2048).describe("Longest position the model is built for."),
    ropeTheta: z.number().positive().default(10000).describe("RoPE base frequency."),
    rmsNormEps: z.number().positive().default(1e-5).describe("RMSNorm epsilon."),
    tieWordEmbeddings: z.boolean().default(false).describe("Share the embedding matrix with lm_head."),
    attentionBias: z
      .boolean()
      .optional()
      .describe("Bias on q/k/v/o projections (default: true for qwen2, else false)."),
    mlpBias: z.boolean().default(false).describe("Bias on the MLP projections."),
    seed: z.number().int().default(0).describe("Seed of the random initialisation."),
  })
  .describe("An inline architecture, randomly initialised (for tests and experiments).");

export const ModelSchema = z
  .strictObject({
    path: z
      .string()
      .min(1)
      .optional()
      .describe(
        "A local Hugging Face model folder (config.json + safetensors), relative to the recipe file.",
      ),
    hub: z
      .string()
      .regex(/^[\w.-]+\/[\w.-]+$/, "expected ORG/NAME")
      .optional()
      .describe(
        "A Hugging Face hub id, resolved offline from the local cache ($HF_HOME or ~/.cache/huggingface/hub).",
      ),
    revision: z.string().min(1).optional().describe("Snapshot revision for `hub` (default: refs/main)."),
    architecture: ArchitectureSchema.optional(),
  })
  .superRefine((m, ctx) => {
    const given = (["path", "hub", "architecture"] as const).filter((k) => m[k] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({
        code: "custom",
        message:
          given.length === 0
            ? "the model needs exactly one of `path`, `hub` or `architecture`"
            : `the model takes exactly one of \`path\`, \`hub\` or \`architecture\`, got ${given.map((k) => `\`${k}\``).join(" and ")}`,
        params: {
          hint: "path: a local folder; hub: an id from the local HF cache; architecture: a random init",
        },
      });
    }
    if (m.revision !== undefined && m.hub === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["revision"],
        message: "`revision` only applies to `hub` models",
      });
    }
  })
  .describe("The base model.");
