// Qwen3 (Qwen3ForCausalLM, transformers' models/qwen3): Qwen2's decoder with a per-head RMSNorm on q and k
// before RoPE, an explicit `head_dim`, and q/k/v/o biases only where `attention_bias` says (default none).
import { decoderFamily } from "./decoder.ts";

export const qwen3 = decoderFamily({
  name: "qwen3",
  description: "Qwen3 (dense): 0.6B to 32B.",
  hfClass: "Qwen3ForCausalLM",
  decoderLayerClass: "Qwen3DecoderLayer",
  qkvBias: "config",
  oProjBias: true,
  mlpBias: "never",
  slidingWindow: "qwen",
  qkNorm: true,
});
