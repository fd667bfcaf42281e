import { z } from "zod";
import { linearRoles } from "../../model/families/types.ts";
import type { CustomIssueParams } from "../catalogue.ts";
import { nonNegativeInt, positiveInt } from "./common.ts";

/** The decoder's linear roles, as the model families name them. */
export const linearModuleNames = linearRoles;
export type LinearModuleName = (typeof linearModuleNames)[number];

const FullMethod = z.strictObject({ kind: z.literal("full").describe("Every parameter trains.") });

const PartialMethod = z
  .strictObject({
    kind: z.literal("partial").describe("Only the selected layers and/or modules train."),
    lastLayers: positiveInt().optional().describe("Train the last N decoder layers."),
    layerRanges: z
      .array(z.tuple([nonNegativeInt(), positiveInt()]))
      .optional()
      .describe("Train decoder layers in [start, end) ranges."),
    modules: z
      .array(z.string().min(1))
      .optional()
      .describe("Regular expressions over HF parameter names (e.g. `mlp\\.`, `norm`); matches train."),
    embeddings: z.boolean().default(false).describe("Also train the input embedding."),
    lmHead: z.boolean().default(false).describe("Also train lm_head (or the tied embedding)."),
  })
  .superRefine((m, ctx) => {
    if (
      m.lastLayers === undefined &&
      m.layerRanges === undefined &&
      m.modules === undefined &&
      !m.embeddings &&
      !m.lmHead
    ) {
      ctx.addIssue({
        code: "custom",
        message: "a partial method selects nothing to train",
        params: {
          hint: "set `lastLayers`, `layerRanges` or `modules`",
          code: "sft/partial-empty",
        } satisfies CustomIssueParams,
      });
    }
    m.layerRanges?.forEach(([start, end], i) => {
      if (end <= start)
        ctx.addIssue({
          code: "custom",
          path: ["layerRanges", i],
          message: `empty layer range [${start}, ${end})`,
        });
    });
    m.modules?.forEach((pattern, i) => {
      try {
        new RegExp(pattern);
      } catch (e) {
        ctx.addIssue({
          code: "custom",
          path: ["modules", i],
          message: `not a regular expression: ${(e as Error).message}`,
        });
      }
    });
  });

const FrozenMethod = z.strictObject({
  kind: z.literal("frozen").describe("The backbone is frozen; only the named extras train."),
  trainable: z
    .strictObject({
      newTokens: z
        .union([z.boolean(), z.array(z.string().min(1))])
        .default(true)
        .describe(
          "Rows of newly added tokens (all, or by name); the other rows stay fixed, as PEFT's trainable tokens.",
        ),
      lmHead: z.boolean().default(false).describe("Train lm_head."),
      norms: z.boolean().default(false).describe("Train the RMSNorm weights."),
    })
    .prefault({})
    .describe("What trains on top of the frozen backbone."),
});

const loraFields = {
  rank: positiveInt().default(16).describe("LoRA rank r."),
  alpha: z
    .number()
    .positive()
    .default(32)
    .describe("LoRA alpha; the update is scaled by alpha/r (alpha/sqrt(r) with rsLoRA)."),
  dropout: z.number().min(0).lt(1).default(0.05).describe("Dropout on the LoRA input."),
  targets: z
    .union([z.literal("all-linear"), z.array(z.enum(linearModuleNames)).min(1)])
    .default(["q_proj", "k_proj", "v_proj", "o_proj"])
    .describe("Linear modules that get adapters, or `all-linear`."),
  rslora: z.boolean().default(false).describe("Rank-stabilised LoRA scaling alpha/sqrt(r)."),
  trainNewTokens: z
    .boolean()
    .default(true)
    .describe("Also train the embedding rows of added tokens (PEFT trainable_token_indices)."),
};

const LoraMethod = z.strictObject({
  kind: z.literal("lora").describe("Low-rank adapters on linear modules."),
  ...loraFields,
});

export const Nf4Schema = z
  .strictObject({
    blockSize: z.literal(64).default(64).describe("Values per absmax block (QLoRA: 64)."),
    doubleQuant: z
      .boolean()
      .default(true)
      .describe("Quantize the absmax constants to 8 bits in blocks of 256."),
  })
  .prefault({})
  .describe("NF4 storage of the frozen base linear weights.");

// QLoRA composes LoRA with a quantized base: the same fields plus the quantization.
const QloraMethod = z.strictObject({
  kind: z.literal("qlora").describe("LoRA over an NF4-quantized base."),
  ...loraFields,
  quantization: Nf4Schema,
});

const PrefixMethod = z.strictObject({
  kind: z.literal("prefix").describe("P-tuning v2: trainable key/value prefixes in every layer."),
  virtualTokens: positiveInt().default(20).describe("Number of virtual tokens (prefix length)."),
  reparameterize: z
    .union([
      z.literal(false),
      z.strictObject({
        hiddenSize: positiveInt().default(512).describe("Hidden width of the reparameterization MLP."),
      }),
    ])
    .default(false)
    .describe("Train the prefixes through an MLP (P-tuning v2's reparameterization), or directly."),
});

export const MethodSchema = z
  .discriminatedUnion("kind", [
    FullMethod,
    PartialMethod,
    FrozenMethod,
    LoraMethod,
    QloraMethod,
    PrefixMethod,
  ])
  .describe("How the model is tuned, chosen by `kind`.");

export const methodKinds = ["full", "partial", "frozen", "lora", "qlora", "prefix"] as const;
export type MethodKind = (typeof methodKinds)[number];

/** Which method kinds accept each key: used to hint where a misplaced key belongs. */
export const methodKeysByKind: Record<MethodKind, readonly string[]> = {
  full: Object.keys(FullMethod.shape),
  partial: Object.keys(PartialMethod.shape),
  frozen: Object.keys(FrozenMethod.shape),
  lora: Object.keys(LoraMethod.shape),
  qlora: Object.keys(QloraMethod.shape),
  prefix: Object.keys(PrefixMethod.shape),
};
