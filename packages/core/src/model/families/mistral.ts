// Mistral (MistralForCausalLM): no biases; `sliding_window` on every layer (absent: 4096, null: none).
import { decoderFamily } from "./decoder.ts";

export const mistral = decoderFamily({
  name: "mistral",
  description: "Mistral 7B and the checkpoints built on it.",
  hfClass: "MistralForCausalLM",
  decoderLayerClass: "MistralDecoderLayer",
  qkvBias: "never",
  oProjBias: false,
  mlpBias: "never",
  slidingWindow: "mistral",
});
