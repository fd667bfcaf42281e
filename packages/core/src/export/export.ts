// exportRecipe: compile a recipe (no training), realise its data mix, and write a config + prepared data for a
// distributed engine. What the target cannot express is a located diagnostic; with an error nothing is written.
import { chmod, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { type CompileOptions, compileRecipe } from "../compile/compile.ts";
import type { Diagnostic, Problem } from "../recipe/diagnostics.ts";
import { locateProblems } from "../recipe/locate.ts";
import type { RecipeInput } from "../recipe/schema/recipe.ts";
import { writeFileAtomic } from "../util/atomic-write.ts";
import { exportAxolotl } from "./axolotl.ts";
import { ExportDataError, realiseData } from "./data.ts";
import { exportTrl } from "./trl.ts";
import { type ExportTarget, exportTargets } from "./types.ts";

export interface ExportOptions {
  target: ExportTarget;
  /** Output folder (created; files in it are replaced). */
  out: string;
  /** The base model the engine loads (hub id or path), instead of the recipe's; written as is. */
  baseModel?: string;
  /** Compile options: overrides (`--set`, a sweep trial's axes). */
  compile?: Pick<CompileOptions, "overrides" | "sets">;
}

export interface ExportResult {
  /** False when there are errors; then nothing was written. */
  ok: boolean;
  /** Compile's diagnostics and the export's own, located in the recipe source. */
  diagnostics: Diagnostic[];
  /** Written files, relative to `out`. */
  files: string[];
  /** Rows written: the realised train mix (per source) and the eval split. */
  counts: { train: number; eval: number; perSource: Record<string, number> };
}

export async function exportRecipe(
  recipeOrPath: string | RecipeInput | object,
  opts: ExportOptions,
): Promise<ExportResult> {
  const empty = { train: 0, eval: 0, perSource: {} };
  if (!(exportTargets as readonly string[]).includes(opts.target)) {
    const problem: Problem = {
      severity: "error",
      code: "sft/export-target",
      message: `unknown export target \`${String(opts.target)}\` (use ${exportTargets.join(" or ")})`,
      path: [],
    };
    return { ok: false, diagnostics: [problem], files: [], counts: empty };
  }
  const compiled = await compileRecipe(recipeOrPath, { ...opts.compile, write: false });
  const { plan, resolved, data: stage } = compiled;
  if (!plan || !resolved || !stage?.prepared)
    return { ok: false, diagnostics: compiled.diagnostics, files: [], counts: empty };

  let data: Awaited<ReturnType<typeof realiseData>>;
  try {
    data = await realiseData(resolved.recipe, stage.prepared);
  } catch (e) {
    if (!(e instanceof ExportDataError)) throw e;
    const problem: Problem = {
      severity: "error",
      code: "sft/export-data",
      message: e.message,
      path: ["data"],
    };
    return {
      ok: false,
      diagnostics: [...compiled.diagnostics, ...locateProblems([problem], resolved.file)],
      files: [],
      counts: empty,
    };
  }
  const ctx = {
    recipe: resolved.recipe,
    resolved,
    plan,
    data,
    out: resolve(opts.out),
    ...(opts.baseModel !== undefined ? { baseModel: opts.baseModel } : {}),
  };
  const output = opts.target === "axolotl" ? exportAxolotl(ctx) : exportTrl(ctx);
  const diagnostics = [...compiled.diagnostics, ...locateProblems(output.problems, resolved.file)];
  const counts = { train: data.train.length, eval: data.eval.length, perSource: data.perSource };
  if (output.problems.some((p) => p.severity === "error"))
    return { ok: false, diagnostics, files: [], counts };

  const files = { ...output.files };
  const written = [...Object.keys(files), "export.json"].sort();
  const manifest = `${JSON.stringify(
    {
      target: opts.target,
      engine: output.engine,
      sftkit: plan.sftkit,
      recipe: plan.recipe,
      counts,
      warnings: output.problems.map((p) => ({ id: p.code, path: p.path.join("."), message: p.message })),
      files: written,
    },
    null,
    2,
  )}\n`;
  const out = resolve(opts.out);
  try {
    // The folder is the user's (launch.sh trains into its outputs/), so it is not swapped whole as adapter/
    // and model/ are: export.json goes first and comes back last, so only a complete export carries one.
    await rm(join(out, "export.json"), { force: true });
    for (const [rel, text] of Object.entries(files)) await writeFileAtomic(join(out, rel), text);
    await writeFileAtomic(join(out, "export.json"), manifest);
    await chmod(join(out, "launch.sh"), 0o755);
  } catch (e) {
    const problem: Problem = {
      severity: "error",
      code: "sft/export-write",
      message: `cannot write to ${out}: ${(e as Error).message}`,
      path: [],
    };
    return { ok: false, diagnostics: [...diagnostics, problem], files: [], counts };
  }
  return { ok: true, diagnostics, files: written, counts };
}
