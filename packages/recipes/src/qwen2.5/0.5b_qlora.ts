/**
 * Qwen2.5-0.5B-Instruct with QLoRA: the base's linear weights stored as NF4, LoRA on every linear layer.
 *
 * For: fitting a 0.5B model's fine-tuning in little memory (about 0.52 byte per quantized parameter).
 * Needs: Qwen/Qwen2.5-0.5B-Instruct in the local Hugging Face cache (never downloaded by sftkit).
 * Run:   pnpm sft plan packages/recipes/src/qwen2.5/0.5b_qlora.ts
 */
import { defineRecipe } from "@sftkit/core";
import * as methods from "../methods.ts";
import { packageFile } from "../paths.ts";

export default defineRecipe({
  name: "qwen2.5-0.5b-qlora",
  model: { hub: "Qwen/Qwen2.5-0.5B-Instruct" },
  template: "model",
  data: {
    sources: { chat: { path: packageFile("data/stories-chat.jsonl"), format: "messages", eval: 0.1 } },
  },
  method: methods.qlora,
  train: {
    epochs: 1,
    maxLength: 512,
    tokensPerMicroBatch: 4096,
    gradientAccumulation: 4,
    gradientCheckpointing: true,
  },
});
