export type { BuiltinTemplateName } from "./builtins.ts";
export { builtinTemplates, isBuiltinTemplateName } from "./builtins.ts";
export { compatSource, generationTags } from "./compat.ts";
export { loadFixtureTemplates } from "./fixture-templates.ts";
export { pyRepr, pyStr } from "./python-compat.ts";
export type { RenderOptions } from "./render.ts";
export { ChatTemplateError, renderChatTemplate, strftimeNow } from "./render.ts";
