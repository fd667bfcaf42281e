import { z } from "zod";

export const builtinTemplateNames = [
  "chatml",
  "llama-2",
  "llama-3",
  "mistral",
  "qwen2.5",
  "gemma",
  "phi-3",
  "alpaca",
] as const;
export type BuiltinTemplateName = (typeof builtinTemplateNames)[number];

export const TemplateSchema = z
  .union([
    z
      .enum(["model", ...builtinTemplateNames])
      .describe(
        "`model`: the model's own `chat_template` from tokenizer_config.json; otherwise a built-in template.",
      ),
    z.strictObject({ jinja: z.string().min(1).describe("An inline Jinja chat template.") }),
    z.strictObject({ file: z.string().min(1).describe("A .jinja file, relative to the recipe file.") }),
  ])
  .default("model")
  .describe("The chat template trained on; it is saved with the outputs so inference uses the same one.");
