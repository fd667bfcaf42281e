export { AXOLOTL_VERSION } from "./axolotl.ts";
export { type ExportOptions, type ExportResult, exportRecipe } from "./export.ts";
export { type ExportTarget, exportTargets } from "./types.ts";
export { parseYaml, toYaml } from "./yaml.ts";
