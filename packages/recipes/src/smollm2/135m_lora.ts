/**
 * SmolLM2-135M-Instruct with LoRA (rank 16, all linear layers): the documented real-model target.
 *
 * For: adapting a small instruct model on a laptop CPU; the adapter loads with PEFT.
 * Needs: HuggingFaceTB/SmolLM2-135M-Instruct in the local Hugging Face cache (sftkit never downloads:
 *        fetch it once with `huggingface-cli download HuggingFaceTB/SmolLM2-135M-Instruct`).
 * Run:   pnpm sft plan packages/recipes/src/smollm2/135m_lora.ts
 * Reuse: extend it and point `data.sources` at your own chat data.
 */
import { defineRecipe } from "@sftkit/core";
import * as methods from "../methods.ts";
import { packageFile } from "../paths.ts";

export default defineRecipe({
  name: "smollm2-135m-lora",
  model: { hub: "HuggingFaceTB/SmolLM2-135M-Instruct" },
  // The model's own chat template (chatml with <|im_start|>/<|im_end|>), as used at inference.
  template: "model",
  data: {
    sources: { chat: { path: packageFile("data/stories-chat.jsonl"), format: "messages", eval: 0.1 } },
  },
  method: methods.lora,
  train: { epochs: 1, maxLength: 512, tokensPerMicroBatch: 4096, gradientAccumulation: 4 },
});
