// Phi-3, Phi-3.5 and Phi-4-mini (transformers' Phi3ForCausalLM): q/k/v and gate/up fused as stored
// (`qkv_proj`, `gate_up_proj`, also the LoRA targets PEFT names), no biases, partial rotary and longrope,
// and `sliding_window` on every layer where the config sets one (Phi-3-mini: 2047).
// The dropout keys (`resid_pdrop`, `embd_pdrop`, `attention_dropout`) are not read and are kept when written.
import { decoderFamily } from "./decoder.ts";

export const phi3 = decoderFamily({
  name: "phi3",
  description: "Phi-3, Phi-3.5 and Phi-4-mini.",
  hfClass: "Phi3ForCausalLM",
  decoderLayerClass: "Phi3DecoderLayer",
  qkvBias: "never",
  oProjBias: false,
  mlpBias: "never",
  fusedLinears: true,
  slidingWindow: "phi3",
  // Phi3Config's default original_max_position_embeddings (configuration_phi3.py).
  phiRope: { originalMaxPositionEmbeddings: 4096 },
});
