// Gemma 3 text models (`gemma3_text`: Gemma3ForCausalLM, transformers' models/gemma3): Gemma 2's decoder with
// (1 + weight) q/k norms, no soft-capping by default, five sliding layers to one global
// (`sliding_window_pattern` or `layer_types`), and the sliding layers' own RoPE base (`rope_local_base_freq`).
import { decoderFamily } from "./decoder.ts";
import { gemmaExtension } from "./gemma-keys.ts";

export const gemma3 = decoderFamily({
  name: "gemma3_text",
  description: "Gemma 3 text models (1B, and the language model of 4B-27B saved as gemma3_text).",
  hfClass: "Gemma3ForCausalLM",
  decoderLayerClass: "Gemma3DecoderLayer",
  qkvBias: "config",
  oProjBias: true,
  mlpBias: "never",
  slidingWindow: "gemma3",
  hiddenAct: "gelu_pytorch_tanh",
  sandwichNorms: true,
  qkNorm: true,
  extension: gemmaExtension({ attnLogitSoftcap: null, finalLogitSoftcap: null, localRope: true }),
});
