// QLoRA: LoRA over a base whose linear weights are stored as NF4 (the NF4 piece under the LoRA piece).
import { z } from "zod";
import type { MethodDefinition } from "./definition.ts";
import {
  checkLoraTargets,
  checkPissa,
  checkTiedModules,
  loraAddedRowsLearn,
  loraAxolotl,
  loraEngineFeatures,
  loraFields,
  loraLearningRateGroups,
  loraMemory,
  loraNewTokenRows,
  loraParameters,
  loraTrainsTensor,
  loraTrl,
} from "./lora.ts";

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
export const qloraSchema = z.strictObject({
  kind: z.literal("qlora").describe("LoRA over an NF4-quantized base."),
  ...loraFields,
  quantization: Nf4Schema,
});
export type QloraMethod = z.output<typeof qloraSchema>;

const shardsPacked = (strategy: string) => ["fsdp", "zero3"].includes(strategy);

export const qlora: MethodDefinition<QloraMethod> = {
  kind: "qlora",
  schema: qloraSchema,
  label: "QLoRA",
  adapter: "lora",
  mergeable: true,
  defaultLearningRate: 2e-4,
  learningRates: "adapter",
  trainsTensor: loraTrainsTensor,
  newTokenRows: loraNewTokenRows,
  addedRowsLearn: loraAddedRowsLearn,
  quantizedBase: (m) => m.quantization,
  addedParameters: loraParameters,
  check: (m) => checkPissa(m, true),
  checkModel: (m, cfg) => [...checkLoraTargets(m, cfg), ...checkTiedModules(m, cfg)],
  memory: loraMemory,
  engineFeatures: loraEngineFeatures,
  learningRateGroups: loraLearningRateGroups,
  // The NF4 base first: the LoRA hook composes over it.
  pieces: (m) => ({ nf4: m.quantization, lora: m }),
  exports: {
    trl(m, f) {
      // TRL's own model config leaves nested quantization off; the recipe's choice is written out.
      const quantization = {
        class: "BitsAndBytesConfig",
        kwargs: {
          load_in_4bit: true,
          bnb_4bit_quant_type: "nf4",
          bnb_4bit_use_double_quant: m.quantization.doubleQuant,
          bnb_4bit_compute_dtype: f.dtype,
          // FSDP and ZeRO-3 shard the packed 4-bit weights only when they are stored in the compute dtype.
          ...(shardsPacked(f.strategy) ? { bnb_4bit_quant_storage: f.dtype } : {}),
        },
      };
      return { quantization, ...loraTrl(m, f) };
    },
    axolotl: (m, f) =>
      loraAxolotl(m, f, {
        adapter: "qlora",
        load_in_4bit: true,
        // Axolotl's 4-bit loader defaults may change; state NF4 and double quantization explicitly.
        bnb_config_kwargs: {
          bnb_4bit_quant_type: "nf4",
          bnb_4bit_use_double_quant: m.quantization.doubleQuant,
          // FSDP and ZeRO-3 shard the packed 4-bit weights only when they are stored in the training dtype;
          // Axolotl's default storage is bfloat16 (src/axolotl/loaders/model.py@5749095e64ac).
          ...(shardsPacked(f.strategy) ? { bnb_4bit_quant_storage: f.dtype } : {}),
        },
      }),
  },
};
