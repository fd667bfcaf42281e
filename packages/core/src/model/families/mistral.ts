// Mistral (MistralForCausalLM): no biases. `sliding_window` is not read (training attends over the whole
// sequence); a base model's value is kept when the model is written.
import { decoderFamily } from "./decoder.ts";

export const mistral = decoderFamily({
  name: "mistral",
  description: "Mistral 7B and the checkpoints built on it.",
  hfClass: "MistralForCausalLM",
  decoderLayerClass: "MistralDecoderLayer",
  qkvBias: "never",
  oProjBias: false,
  mlpBias: "never",
});
