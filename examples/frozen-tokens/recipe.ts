/**
 * Frozen backbone + new tokens: only the embedding rows of the added role tokens train (as PEFT's
 * trainable tokens); every other weight, and every other row, stays exactly as pretrained.
 *
 * Needs: nothing beyond this repository.
 * Run:   pnpm sft plan examples/frozen-tokens/recipe.ts
 */
import { defineRecipe } from "@sftkit/core";

export default defineRecipe({
  name: "frozen-tokens",
  model: { path: "../models/stories260K" },
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
    eos: "<|end|>",
  },
  data: { sources: { chat: { path: "../quickstart/data/chat.jsonl", format: "messages", eval: 0.1 } } },
  method: { kind: "frozen", trainable: { newTokens: ["<|user|>", "<|assistant|>", "<|end|>"] } },
  train: { epochs: 1, maxLength: 160, tokensPerMicroBatch: 2048 },
  output: { dir: "../../out/frozen-tokens" },
});
