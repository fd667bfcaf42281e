/**
 * stories260K with LoRA on every linear layer, new chatml tokens trained as PEFT trainable tokens.
 *
 * For: the smallest real LoRA run; the adapter loads with PEFT on the HF-layout model.
 * Needs: nothing beyond this repository.
 * Run:   pnpm sft plan packages/recipes/src/stories/260k_lora.ts
 */
import { extendRecipe } from "@sftkit/core";
import * as methods from "../methods.ts";
import full from "./260k_full.ts";

export default extendRecipe(full, {
  name: "stories-260k-lora",
  method: { ...methods.lora, rank: 8, alpha: 16 },
  train: { learningRate: 3e-3 },
});
