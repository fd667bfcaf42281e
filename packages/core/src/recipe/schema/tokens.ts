import { z } from "zod";
import { TokenRefSchema } from "./common.ts";

export const TokenInitSchema = z
  .enum(["mean", "noise", "describe"])
  .describe(
    "Init of a new embedding row: `mean` of all rows, `noise` = mean + N(0, 1/sqrt(d)), `describe` = mean embedding of the token's description.",
  );

export const AddedTokenSchema = z.union([
  z.string().min(1).describe("The token's text; added as a special token."),
  z.strictObject({
    content: z.string().min(1).describe("The token's text."),
    special: z
      .boolean()
      .default(true)
      .describe("Special tokens are never split and are skipped when decoding with skipSpecialTokens."),
    init: TokenInitSchema.optional(),
    description: z
      .string()
      .min(1)
      .optional()
      .describe("Text whose mean embedding initialises this row (init `describe`)."),
  }),
]);

export const TokensSchema = z
  .strictObject({
    add: z
      .array(AddedTokenSchema)
      .default([])
      .describe("New tokens, appended to the vocabulary with fresh ids."),
    init: TokenInitSchema.default("mean").describe("Default init of the new embedding rows."),
    bos: TokenRefSchema.optional().describe("Override the beginning-of-sequence token."),
    eos: TokenRefSchema.optional().describe(
      "Override the end-of-sequence token (the one generation stops on).",
    ),
    pad: TokenRefSchema.optional().describe("Override the padding token (never trained)."),
  })
  .prefault({})
  .describe("Special tokens: new tokens and overrides.");
