import { z } from "zod";
import { acknowledgeableIdList } from "../warnings.ts";
import { DataSchema } from "./data.ts";
import { MethodSchema } from "./method.ts";
import { ModelSchema } from "./model.ts";
import { ProbesSchema } from "./probes.ts";
import { ScaleSchema } from "./scale.ts";
import { TemplateSchema } from "./template.ts";
import { TokensSchema } from "./tokens.ts";
import { OutputSchema, TrainSchema } from "./train.ts";

export const RecipeSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[\w.-]+$/, "use letters, digits, _ . -")
      .optional()
      .describe("The run's name (default: the recipe file's name)."),
    description: z.string().optional().describe("What this recipe is for."),
    model: ModelSchema,
    tokenizer: z
      .string()
      .min(1)
      .optional()
      .describe("Folder with tokenizer.json (default: the model folder)."),
    template: TemplateSchema,
    tokens: TokensSchema,
    data: DataSchema,
    method: MethodSchema,
    train: TrainSchema,
    output: OutputSchema,
    probes: ProbesSchema.optional(),
    scale: ScaleSchema,
    acknowledge: z
      .array(z.enum(acknowledgeableIdList))
      .default([])
      .describe(
        "Warning ids (and acknowledgeable error ids) this recipe has seen and accepts; they are not printed again.",
      ),
  })
  .describe("An SFT recipe.");

/** What a user writes. */
export type RecipeInput = z.input<typeof RecipeSchema>;
/** A parsed recipe, defaults applied. */
export type Recipe = z.output<typeof RecipeSchema>;
