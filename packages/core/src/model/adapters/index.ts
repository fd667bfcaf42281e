// The building blocks of tuning methods on a loaded model, from flat settings (the methods themselves are
// defined in src/methods).
export {
  dropoutLinear,
  type Lora,
  type LoraOptions,
  lora,
  loraScale,
  loraTargets,
} from "./lora.ts";
export {
  dequantizeNF4,
  NF4_CODES,
  type NF4Options,
  type NF4Tensor,
  nf4Absmax,
  nf4Bytes,
  quantizeNF4,
} from "./nf4.ts";
export { type NF4Base, nf4Base } from "./nf4-base.ts";
export { combineHooks, composeLinear, type Piece } from "./piece.ts";
export { type Prefix, type PrefixOptions, prefix, prefixHooks, prefixKV } from "./prefix.ts";
export { tokenRows } from "./token-rows.ts";
