/**
 * A real Hugging Face checkpoint from the local HF cache: SmolLM2-135M-Instruct with LoRA.
 *
 * Needs: HuggingFaceTB/SmolLM2-135M-Instruct in the local HF cache ($HF_HOME or ~/.cache/huggingface);
 *        sftkit never downloads. (The test suite uses a stand-in with the real architecture.)
 * Run:   pnpm sft plan examples/smollm2-lora/recipe.ts
 */
import { extendRecipe } from "@sftkit/core";
import smollm2 from "@sftkit/recipes/smollm2/135m_lora";

// A shared recipe from @sftkit/recipes with two fields changed.
export default extendRecipe(smollm2, {
  name: "smollm2-lora",
  data: { sources: { chat: { path: "../quickstart/data/chat.jsonl" } } },
  method: { kind: "lora", rank: 8 },
  output: { dir: "../../out/smollm2-lora" },
});
