/**
 * P-tuning v2: trainable key/value prefixes in every layer (through a reparameterization MLP), the
 * backbone frozen. With grouped-query attention the prefixes have the key/value heads' width.
 *
 * Needs: nothing beyond this repository.
 * Run:   pnpm sft run examples/prefix/recipe.ts   (under a minute on 2 CPU cores)
 */
import { defineRecipe } from "@sftkit/core";

export default defineRecipe({
  name: "prefix",
  model: { path: "../models/stories260K" },
  template: "llama-2",
  // Prefix tuning trains no token rows, and stories260K's own `</s>` row never got a gradient in pretraining
  // (its TinyStories data marks stories with BOS only), so no prefix makes `</s>` win and answers never end.
  // The end token is therefore the checkpoint's well-trained `<s>` (the one pretraining put after every
  // story): the template closes each answer with it and generation stops on it.
  tokens: { eos: { vocab: "<s>" } },
  data: {
    sources: {
      // Short answers, so the greedy samples (48 new tokens at most) show whether answers end.
      chat: {
        path: "../quickstart/data/chat.jsonl",
        format: "messages",
        eval: 8,
        filters: { maxLength: 60 },
      },
    },
  },
  method: { kind: "prefix", virtualTokens: 16, reparameterize: { hiddenSize: 128 } },
  train: { epochs: 1, learningRate: 1e-2, warmupSteps: 2, maxLength: 128, tokensPerMicroBatch: 512 },
  acknowledge: ["sft/high-learning-rate"],
  output: { dir: "../../out/prefix" },
});
