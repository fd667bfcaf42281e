// A model family added the way a user would: one file, through the package's public API only. It is Llama
// with a renamed tensor (the attention output is `self_attn.out_proj`, as in some ports), its own model_type
// and transformers classes. toy-family.test.ts loads, trains and exports it.
import { decoderFamily, registerFamily } from "../index.ts";

export const toyFamily = decoderFamily({
  name: "toyllama",
  description: "Llama whose attention output projection is called out_proj (a test family).",
  hfClass: "ToyLlamaForCausalLM",
  decoderLayerClass: "ToyLlamaDecoderLayer",
  qkvBias: "config",
  oProjBias: true,
  mlpBias: "config",
  paths: { o_proj: "self_attn.out_proj" },
});

/** Registers the family (idempotent). */
export function registerToyFamily(): void {
  registerFamily(toyFamily);
}
