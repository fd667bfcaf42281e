// Tuning methods, a stage above the model core: the registry of definitions (registry.ts, one file per kind)
// and the runtime that builds a plan's method on a loaded model and writes its artefacts.
export * from "./registry.ts";

export { buildMethod, buildMethodRuntime, type MethodRuntimeWithParts, trainedTokenIds } from "./runtime.ts";
export { mergedTensors } from "./save.ts";
export { growVocabulary, growVocabularySync, isGrown, newTokens } from "./vocab.ts";
