/**
 * P-tuning v2: trainable key/value prefixes in every layer (through a reparameterization MLP), the
 * backbone frozen. With grouped-query attention the prefixes have the key/value heads' width.
 *
 * Needs: nothing beyond this repository.
 * Run:   pnpm sft plan examples/prefix/recipe.ts
 */
import { defineRecipe } from "@sftkit/core";

export default defineRecipe({
  name: "prefix",
  model: { path: "../models/stories260K" },
  // The checkpoint's own </s> ends answers: prefix tuning trains no token rows, so no new tokens here.
  template: "llama-2",
  data: { sources: { chat: { path: "../quickstart/data/chat.jsonl", format: "messages", eval: 0.1 } } },
  method: { kind: "prefix", virtualTokens: 8, reparameterize: { hiddenSize: 64 } },
  train: { epochs: 1, maxLength: 160, tokensPerMicroBatch: 2048 },
  output: { dir: "../../out/prefix" },
});
