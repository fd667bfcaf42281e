/**
 * QLoRA: the base's linear weights stored as NF4 (block size 64, double-quantized absmax), LoRA on top.
 *
 * Needs: nothing beyond this repository.
 * Run:   pnpm sft plan examples/qlora/recipe.ts   (the plan shows the NF4 bytes per parameter)
 */
import { defineRecipe } from "@sftkit/core";

export default defineRecipe({
  name: "qlora",
  model: { path: "../models/stories260K" },
  template: "chatml",
  tokens: { add: ["<|im_start|>", "<|im_end|>"], eos: "<|im_end|>" },
  data: { sources: { chat: { path: "../quickstart/data/chat.jsonl", format: "messages", eval: 0.1 } } },
  method: { kind: "qlora", rank: 8, alpha: 16, targets: "all-linear" },
  train: { epochs: 1, learningRate: 3e-3, maxLength: 160, tokensPerMicroBatch: 2048 },
  output: { dir: "../../out/qlora" },
});
