/**
 * A randomly initialised tiny Llama, trained in full on Alpaca-format data: shows an inline
 * `architecture`, a separate tokenizer folder and a built-in chat template.
 *
 * Needs: nothing beyond this repository.
 * Run:   pnpm sft plan examples/random-init/recipe.ts
 */
import { defineRecipe } from "@sftkit/core";

export default defineRecipe({
  name: "random-init",
  model: {
    architecture: {
      type: "llama",
      vocabSize: 512,
      hiddenSize: 64,
      intermediateSize: 176,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 2,
    },
  },
  tokenizer: "../models/stories260K",
  template: "alpaca",
  // The alpaca template writes the EOS right after each answer, where this tokenizer splits "</s>" into
  // plain pieces (it matches "</s>" only after a space): a token of its own is trained as the EOS instead.
  tokens: { add: ["<|end|>"], eos: "<|end|>" },
  data: { sources: { sentences: { path: "data/alpaca.json", format: "alpaca", eval: 4 } } },
  method: { kind: "full" },
  train: { epochs: 1, learningRate: 1e-3, maxLength: 192, microBatchSize: 8 },
  acknowledge: ["sft/high-learning-rate"],
  output: { dir: "../../out/random-init" },
});
