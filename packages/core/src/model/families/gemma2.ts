// Gemma 2 (Gemma2ForCausalLM, transformers' models/gemma2): GeGLU, (1 + weight) RMSNorms before and after
// attention and the MLP, embeddings times sqrt(hidden_size), query_pre_attn_scalar, attention and final
// logit soft-capping, sliding-window layers alternating with global ones, tied embeddings.
import { decoderFamily } from "./decoder.ts";
import { gemmaExtension } from "./gemma-keys.ts";

export const gemma2 = decoderFamily({
  name: "gemma2",
  description: "Gemma 2 (2B, 9B, 27B).",
  hfClass: "Gemma2ForCausalLM",
  decoderLayerClass: "Gemma2DecoderLayer",
  qkvBias: "config",
  oProjBias: true,
  mlpBias: "never",
  slidingWindow: "gemma2",
  hiddenAct: "gelu_pytorch_tanh",
  sandwichNorms: true,
  extension: gemmaExtension({ attnLogitSoftcap: 50, finalLogitSoftcap: 30, localRope: false }),
});
