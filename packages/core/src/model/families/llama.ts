// Llama (transformers' LlamaForCausalLM): optional q/k/v/o and MLP biases read from config.json.
import { decoderFamily } from "./decoder.ts";

export const llama = decoderFamily({
  name: "llama",
  description: "Llama 1-3 and the checkpoints built on it (SmolLM, TinyLlama, ...).",
  hfClass: "LlamaForCausalLM",
  decoderLayerClass: "LlamaDecoderLayer",
  qkvBias: "config",
  oProjBias: true,
  mlpBias: "config",
});
