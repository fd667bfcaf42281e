import { z } from "zod";
import { fraction, positiveInt } from "./common.ts";

export const ProbeFactSchema = z.strictObject({
  token: z.string().min(1).describe("A fresh special token the fact is keyed on (added to the vocabulary)."),
  answer: z.string().min(1).describe("What the model must answer about it."),
});

/**
 * Knowledge probes: facts keyed on fresh special tokens, which pretraining never saw, so recalling them
 * shows that SFT took effect, free of the base model's priors.
 */
export const ProbesSchema = z
  .strictObject({
    count: positiveInt()
      .optional()
      .describe("Generate this many facts, keyed on `<|probe_N|>` tokens, with answers from `answers`."),
    facts: z.array(ProbeFactSchema).optional().describe("Facts to teach, listed explicitly."),
    answers: z
      .array(z.string().min(1))
      .min(2)
      .optional()
      .describe("Answers generated facts draw from (default: short phrases of common words)."),
    question: z
      .string()
      .regex(/\{token\}/, "must contain {token}")
      .default("What is {token}?")
      .describe("The user turn asking for a fact; {token} is replaced by the fact's token."),
    rate: fraction().default(0.1).describe("Share of each epoch's training samples that are probes."),
    seed: z.number().int().default(0).describe("Seed of the generated facts."),
  })
  .superRefine((p, ctx) => {
    if (p.count === undefined && p.facts === undefined) {
      ctx.addIssue({ code: "custom", message: "probes need `count` (generated facts) or `facts`" });
    }
  })
  .describe("Knowledge probes mixed into training; evaluation reports their recall (greedy exact match).");
