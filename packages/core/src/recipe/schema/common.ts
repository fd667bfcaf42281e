import { z } from "zod";

/** Names a token: one the recipe adds (by its text), or one already in the vocabulary. */
export const TokenRefSchema = z
  .union([
    z.string().min(1).describe("A token this recipe adds, by its text (checked against `tokens.add`)."),
    z
      .strictObject({ vocab: z.string().min(1).describe("The token's text in the tokenizer's vocabulary.") })
      .describe("A token already in the tokenizer's vocabulary."),
    z
      .strictObject({ id: z.number().int().nonnegative().describe("The token id.") })
      .describe("A token by id."),
  ])
  .describe("A token: an added token's text, `{ vocab }` for an existing token, or `{ id }`.");

export const positiveInt = () => z.number().int().positive();
export const nonNegativeInt = () => z.number().int().nonnegative();
export const fraction = () => z.number().gt(0).lt(1);
