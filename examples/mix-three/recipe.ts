/**
 * A mix of three sources in three formats, with weights: chat (messages JSONL), instructions (alpaca
 * JSON) and plain stories (completion CSV). The plan shows the realised samples per source.
 *
 * Needs: nothing beyond this repository.
 * Run:   pnpm sft plan examples/mix-three/recipe.ts
 */
import { defineRecipe } from "@sftkit/core";

export default defineRecipe({
  name: "mix-three",
  model: { path: "../models/stories260K" },
  template: "chatml",
  tokens: { add: ["<|im_start|>", "<|im_end|>"], eos: "<|im_end|>" },
  data: {
    seed: 7,
    sources: {
      // Half of the chat rows each epoch (drawn without replacement, a new half every epoch).
      chat: { path: "../quickstart/data/chat.jsonl", format: "messages", weight: 0.5, eval: 0.1 },
      // Each instruction twice (upsampled by repetition).
      instructions: { path: "../random-init/data/alpaca.json", format: "alpaca", weight: 2 },
      // Exactly 20 stories per epoch; loss on every token.
      stories: { path: "data/stories.csv", format: "completion", samples: 20 },
    },
  },
  method: { kind: "lora", rank: 8, alpha: 16, targets: "all-linear" },
  train: { epochs: 1, maxLength: 256, tokensPerMicroBatch: 2048 },
  output: { dir: "../../out/mix-three" },
});
