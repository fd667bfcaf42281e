import type { Plan } from "../compile/plan-schema.ts";
import type { ResolvedRecipe } from "../compile/resolve.ts";
import type { Problem } from "../recipe/diagnostics.ts";
import type { Recipe } from "../recipe/schema/recipe.ts";
import type { ExportData } from "./data.ts";

export const exportTargets = ["axolotl", "trl"] as const;
export type ExportTarget = (typeof exportTargets)[number];

/** Everything a target needs: the parsed recipe, what compile resolved and planned, and the realised data. */
export interface ExportContext {
  recipe: Recipe;
  resolved: ResolvedRecipe;
  plan: Plan;
  data: ExportData;
  /** The absolute output folder: local paths in the files are written relative to it. */
  out: string;
  /** `--base-model`: the model id or path written as the engine's base model, verbatim. */
  baseModel?: string;
}

/** A target's output: files by path relative to the output folder, and what it could not express. */
export interface TargetOutput {
  files: Record<string, string>;
  problems: Problem[];
  /** Engine versions the files were written for (recorded in export.json). */
  engine: Record<string, unknown>;
}
