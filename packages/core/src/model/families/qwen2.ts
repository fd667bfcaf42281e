// Qwen2 / Qwen2.5 (Qwen2ForCausalLM): q/k/v always have biases (config.json has no key for them), o_proj never;
// a sliding window where `use_sliding_window` is set, on the layers `max_window_layers`/`layer_types` say.
import { decoderFamily } from "./decoder.ts";

export const qwen2 = decoderFamily({
  name: "qwen2",
  description: "Qwen2 and Qwen2.5.",
  hfClass: "Qwen2ForCausalLM",
  decoderLayerClass: "Qwen2DecoderLayer",
  qkvBias: "always",
  oProjBias: false,
  mlpBias: "never",
  slidingWindow: "qwen",
});
