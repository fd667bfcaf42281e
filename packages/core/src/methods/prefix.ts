// P-tuning v2 / prefix tuning: trainable key/value prefixes in every layer; always a PEFT adapter.
import { z } from "zod";
import { positiveInt } from "../recipe/schema/common.ts";
import type { MethodDefinition } from "./definition.ts";

export const prefixSchema = z.strictObject({
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
export type PrefixMethod = z.output<typeof prefixSchema>;

export const prefix: MethodDefinition<PrefixMethod> = {
  kind: "prefix",
  schema: prefixSchema,
  label: "Prefix tuning",
  adapter: "prefix",
  mergeable: false,
  defaultLearningRate: 1e-2,
  learningRates: "adapter",
  trainsTensor: () => false,
  newTokenRows: () => false,
  addedRowsLearn: () => false,
  quantizedBase: () => null,
  addedParameters(m, cfg) {
    const tokenDim = cfg.headDim * cfg.numKvHeads;
    const out = cfg.numLayers * 2 * tokenDim;
    if (m.reparameterize === false)
      return [{ name: "prefix.prompt_embeddings", parameters: m.virtualTokens * out, tensors: 1 }];
    const h = m.reparameterize.hiddenSize;
    return [
      { name: "prefix.embedding", parameters: m.virtualTokens * tokenDim, tensors: 1 },
      { name: "prefix.mlp", parameters: tokenDim * h + h + h * out + out, tensors: 4 },
    ];
  },
  memory: (m) => ({
    prefixLength: m.virtualTokens,
    frozenLinears: true,
    adapters: null,
    headTrains: () => false,
  }),
  foreignKeys: {
    targets: "P-tuning v2 adds key/value prefixes to every layer and has no target modules",
    dora: "DoRA rescales the weights of LoRA's linears; prefixes have none",
  },
  probesUntrained: "P-tuning v2 does not train token rows, so probe tokens keep their initial embedding",
  pieces: (m) => ({ prefix: m }),
  exports: {
    noCheckpointing: "PEFT prefix tuning does not work with gradient checkpointing; it is turned off",
    trl(m, f) {
      const notes =
        f.save !== "adapter"
          ? [
              {
                kind: "approximate" as const,
                path: ["output", "save"],
                message:
                  "prefix-tuning prefixes cannot be merged into the weights; train.py saves the PEFT adapter only",
              },
            ]
          : [];
      return {
        usesPeft: true,
        peft: {
          class: "PrefixTuningConfig",
          kwargs: {
            task_type: "CAUSAL_LM",
            num_virtual_tokens: m.virtualTokens,
            prefix_projection: m.reparameterize !== false,
            ...(m.reparameterize !== false ? { encoder_hidden_size: m.reparameterize.hiddenSize } : {}),
          },
        },
        notes,
      };
    },
    axolotl: () => ({
      fields: {},
      notes: [
        {
          kind: "unsupported",
          path: ["method", "kind"],
          message: "Axolotl has no prefix tuning (P-tuning v2)",
          hint: "export this recipe with --target trl (PEFT PrefixTuningConfig)",
        },
      ],
      header: [],
    }),
  },
};
