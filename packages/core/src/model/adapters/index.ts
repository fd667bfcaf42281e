// The six tuning methods as compositions of small pieces, and their artefacts.
export { type Lora, lora, loraScale, loraTargets } from "./lora.ts";
export { type Method, methodOf } from "./method.ts";
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
export { type Prefix, prefix, prefixKV } from "./prefix.ts";
export { buildMethod, buildMethodRuntime, type MethodRuntimeWithParts, trainedTokenIds } from "./runtime.ts";
export { mergedTensors } from "./save.ts";
export { tokenRows } from "./token-rows.ts";
export { growVocabulary, growVocabularySync, isGrown, newTokens } from "./vocab.ts";
