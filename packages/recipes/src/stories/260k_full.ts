/**
 * stories260K, full fine-tuning on a small chat set: every one of the 260K parameters trains.
 *
 * For: trying sftkit end to end in seconds on a CPU; a baseline for the other methods.
 * Needs: nothing beyond this repository (the model is in examples/models, the data in this package).
 * Run:   pnpm sft plan packages/recipes/src/stories/260k_full.ts
 * Reuse: `extendRecipe(recipe, { data: { sources: { chat: { path: "mine.jsonl" } } } })`.
 */
import { defineRecipe } from "@sftkit/core";
import * as methods from "../methods.ts";
import { packageFile, stories260K } from "../paths.ts";

export default defineRecipe({
  name: "stories-260k-full",
  model: { path: stories260K },
  template: "chatml",
  tokens: { add: ["<|im_start|>", "<|im_end|>"], eos: "<|im_end|>" },
  data: {
    sources: { chat: { path: packageFile("data/stories-chat.jsonl"), format: "messages", eval: 0.1 } },
  },
  method: methods.full,
  // A tiny model tolerates (and needs) a higher rate than the 2e-5 used for large ones.
  train: { epochs: 2, learningRate: 1e-3, maxLength: 160, tokensPerMicroBatch: 2048 },
  acknowledge: ["sft/high-learning-rate"],
});
