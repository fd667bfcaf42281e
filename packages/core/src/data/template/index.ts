export { compatSource, generationTags } from "./compat.ts";
export type { RenderOptions } from "./render.ts";
export { ChatTemplateError, renderChatTemplate, strftimeNow } from "./render.ts";
