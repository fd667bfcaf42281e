/**
 * Quickstart: teach a real pretrained tiny Llama (stories260K, shipped in examples/models) to chat.
 *
 * Needs: nothing beyond this repository (model and data are in it).
 * Run:   pnpm quickstart   (= pnpm sft run examples/quickstart/recipe.ts, or `pnpm tsx examples/quickstart/recipe.ts`)
 *        pnpm sft plan examples/quickstart/recipe.ts   (the plan only)
 */
import { defineRecipe } from "@sftkit/core";

export default defineRecipe({
  name: "quickstart",
  description: "LoRA on stories260K with new role tokens, on a small generated chat set",
  model: { path: "../models/stories260K" },
  // stories260K has no chat template: this one uses the role tokens added below.
  template: {
    jinja:
      "{{ bos_token }}{% for m in messages %}{% if m.role == 'user' %}<|user|>{{ m.content }}<|end|>" +
      "{% elif m.role == 'assistant' %}<|assistant|>{{ m.content }}<|end|>{% endif %}{% endfor %}" +
      "{% if add_generation_prompt %}<|assistant|>{% endif %}",
  },
  tokens: {
    add: [
      { content: "<|user|>", init: "describe", description: "a person asks" },
      { content: "<|assistant|>", init: "describe", description: "the story teller answers" },
      { content: "<|end|>", init: "describe", description: "the end." },
    ],
    // Generation stops on the end-of-turn token, which is trained after every answer.
    eos: "<|end|>",
  },
  data: {
    sources: {
      chat: { path: "data/chat.jsonl", format: "messages", eval: 0.1 },
    },
  },
  // Facts keyed on fresh tokens the base model never saw: their recall shows the fine-tuning took.
  probes: { count: 8, rate: 0.4 },
  method: { kind: "lora", rank: 8, alpha: 16, dropout: 0, targets: "all-linear" },
  train: {
    epochs: 4,
    learningRate: 5e-3,
    maxLength: 128,
    tokensPerMicroBatch: 1024,
  },
  // A PEFT adapter (adapter/) and the merged Hugging Face model (model/).
  output: { dir: "../../out/quickstart", save: "both" },
});
