export { alignTokens, SurfaceTable, surfaceKind } from "./surface.ts";
export { tinyByteLevelTokenizer } from "./tiny.ts";
export type { ChatTemplateOptions, Encoded, EncodeOptions, Tokenizer } from "./tokenizer.ts";
export { createTokenizer, loadTokenizer } from "./tokenizer.ts";
