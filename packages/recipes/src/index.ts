// @sftkit/recipes: chat templates, method presets, and ready recipes laid out as <family>/<size>_<method>.ts
// (import those by path, e.g. `@sftkit/recipes/smollm2/135m_lora`).
export * as methods from "./methods.ts";
export { packageFile, stories260K } from "./paths.ts";
export { type BuiltinTemplateName, builtinTemplates } from "./templates.ts";
