// Named chat templates for models that ship none (our own renderings of each family's format).
export { type BuiltinTemplateName, builtinTemplates } from "@sftkit/core";
