import { z } from "zod";
import { builtinFamilyNames, ModelConfigSchema } from "../../model/families/index.ts";
import { positiveInt } from "./common.ts";

/** A field's description, as the model core's configuration gives it (one text for recipe and plan). */
const about = (key: keyof typeof ModelConfigSchema.shape): string =>
  ModelConfigSchema.shape[key].description ?? "";

export const ArchitectureSchema = z
  .strictObject({
    type: z.enum(builtinFamilyNames).default("llama").describe(about("architecture")),
    vocabSize: positiveInt().describe(about("vocabSize")),
    hiddenSize: positiveInt().describe(about("hiddenSize")),
    intermediateSize: positiveInt().describe(about("intermediateSize")),
    numLayers: positiveInt().describe(about("numLayers")),
    numHeads: positiveInt().describe(about("numHeads")),
    numKvHeads: positiveInt().optional().describe(about("numKvHeads")),
    headDim: positiveInt().optional().describe(about("headDim")),
    maxPositionEmbeddings: positiveInt().default(2048).describe(about("maxPositionEmbeddings")),
    ropeTheta: z.number().positive().default(10000).describe(about("ropeTheta")),
    rmsNormEps: z.number().positive().default(1e-5).describe(about("rmsNormEps")),
    tieWordEmbeddings: z.boolean().default(false).describe(about("tieWordEmbeddings")),
    attentionBias: z.boolean().optional().describe(about("attentionBias")),
    mlpBias: z.boolean().default(false).describe(about("mlpBias")),
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
