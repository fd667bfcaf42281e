// compile: recipe (object or file) -> load -> parse -> check -> resolve -> data -> plan. Every problem from every
// stage is collected, located in the recipe source, and reported together.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { checkRecipe } from "../recipe/checks.ts";
import { recipeSourceFile } from "../recipe/define.ts";
import { type Diagnostic, type Problem, RecipeError } from "../recipe/diagnostics.ts";
import { loadRecipeFile } from "../recipe/load.ts";
import { locateProblems } from "../recipe/locate.ts";
import { foreignPathOrigins, type PathOrigin, rebasePaths } from "../recipe/origins.ts";
import {
  applyOverrides,
  attributeToOverrides,
  checkOverridePaths,
  type Override,
  overriddenOutputDir,
  overrideRecords,
  overridesFromFlags,
  type SetFlag,
} from "../recipe/overrides.ts";
import { parseRecipe } from "../recipe/parse.ts";
import { overlaps, repairRecipe } from "../recipe/repair.ts";
import type { RecipeInput } from "../recipe/schema/recipe.ts";
import { displayable } from "../report/display-plan.ts";
import { writeFileAtomic } from "../util/atomic-write.ts";
import { type DataStage, emptyDataFacts, runDataStage } from "./data-facts.ts";
import { buildPlan, stableJson } from "./plan.ts";
import { type Plan, PlanSchema } from "./plan-schema.ts";
import { type ResolvedRecipe, resolveRecipe } from "./resolve.ts";

export interface CompileOptions {
  /** Write plan.json and recipe.resolved.json to the output folder (default true). */
  write?: boolean;
  /** Read and tokenize the data (default true); without it the plan's data numbers are null. */
  readData?: boolean;
  /** Values set over the recipe's (`--set`, a sweep trial's axes); recorded in the plan. */
  overrides?: readonly Override[];
  /**
   * The output folder, replacing the recipe's (a sweep's trial folder). Without it an overridden recipe
   * writes beside the base run: `<output.dir>+<overrides>` (see overriddenOutputDir).
   */
  outputDir?: string;
  /** `--set path=value` flags, read by the type the recipe's schema expects (applied after `overrides`). */
  sets?: readonly SetFlag[];
}

export interface CompileResult {
  plan: Plan | null;
  /** Errors and warnings, located in the recipe source. Acknowledged warnings are left out. */
  diagnostics: Diagnostic[];
  resolved: ResolvedRecipe | null;
  data: DataStage | null;
}

/** Compiles a recipe and returns its plan; throws a RecipeError carrying every diagnostic when it has errors. */
export async function compile(
  recipeOrPath: string | RecipeInput | object,
  opts: CompileOptions = {},
): Promise<Plan> {
  const result = await compileRecipe(recipeOrPath, opts);
  if (!result.plan) throw new RecipeError(result.diagnostics);
  return displayable(result.plan);
}

/** Like compile, but returns diagnostics instead of throwing (for the CLI and editors). */
export async function compileRecipe(
  recipeOrPath: string | RecipeInput | object,
  opts: CompileOptions = {},
): Promise<CompileResult> {
  let value: unknown = recipeOrPath;
  let file: string | null = null;
  if (typeof recipeOrPath === "string") {
    const loaded = await loadRecipeFile(recipeOrPath);
    if (!loaded.ok) return { plan: null, diagnostics: loaded.diagnostics, resolved: null, data: null };
    value = loaded.value;
    file = loaded.file;
  }
  file ??= (value as Record<symbol, string | undefined> | null)?.[recipeSourceFile] ?? null;
  const requested = [
    ...(opts.overrides ?? []),
    ...overridesFromFlags(opts.sets ?? [], applyOverrides(value, opts.overrides ?? [])),
  ];
  const { valid: overrides, problems: overrideProblems } = checkOverridePaths(value, requested);
  // Paths a base recipe or preset wrote resolve against its file (a --set value against this recipe's).
  const foreign = foreignPathOrigins(value, file).filter(
    (o) => !overrides.some((ov) => ov.path === o.path.join(".")),
  );
  value = applyOverrides(value, overrides);
  const locate = (problems: Problem[]) => attributeToOverrides(locateProblems(problems, file), requested);

  const parsed = parseRecipe(value);
  if (!parsed.ok) {
    const later = await laterStageErrors(value, parsed.problems, file, foreign);
    const all = [...overrideProblems, ...parsed.problems, ...later];
    return { plan: null, diagnostics: locate(all), resolved: null, data: null };
  }
  const recipe = parsed.recipe;
  rebasePaths(recipe as unknown as Record<string, unknown>, foreign);

  const problems = [...overrideProblems, ...checkRecipe(recipe)];
  const { resolved: asWritten, problems: resolveProblems } = await resolveRecipe(recipe, file, foreign);
  problems.push(...resolveProblems);
  const resolved: ResolvedRecipe = {
    ...asWritten,
    outputDir: opts.outputDir ?? overriddenOutputDir(asWritten.outputDir, overrides),
  };

  let data: DataStage = { facts: emptyDataFacts(), prepared: null };
  if (opts.readData !== false && !problems.some((p) => p.severity === "error")) {
    data = await runDataStage(resolved, problems);
  }

  const acknowledged = new Set<string>(recipe.acknowledge);
  const errors = problems.some((p) => p.severity === "error");
  const shown = problems.filter((p) => p.severity === "error" || !acknowledged.has(p.code));
  if (errors || !resolved.model) return { plan: null, diagnostics: locate(shown), resolved, data };

  const withOverrides = (p: Plan): Plan =>
    overrides.length ? { ...p, recipe: { ...p.recipe, overrides: overrideRecords(overrides) } } : p;
  let plan = withOverrides(buildPlan(resolved, data.facts, problems));
  if (!plan.memory.fits) {
    problems.push(memoryProblem(plan));
    plan = withOverrides(buildPlan(resolved, data.facts, problems));
    if (!acknowledged.has("sft/memory-exceeds-device")) shown.push(problems[problems.length - 1]!);
  }
  if (opts.write !== false) await writePlan(plan, resolved, overrides);
  return { plan, diagnostics: locate(shown), resolved, data };
}

/**
 * The errors the checks and the resolve stage find in a recipe that failed the schema, run on a repaired
 * copy (see repairRecipe), so a misspelled token or a missing file shows in the same pass. Problems at or
 * around a removed value, and token references when part of tokens.add was removed, are left out: they
 * would describe the repair, not the recipe.
 */
async function laterStageErrors(
  value: unknown,
  schema: Problem[],
  file: string | null,
  foreign: readonly PathOrigin[],
): Promise<Problem[]> {
  const repaired = repairRecipe(value, schema);
  if (!repaired) return [];
  rebasePaths(repaired.recipe as unknown as Record<string, unknown>, foreign);
  const { problems } = await resolveRecipe(repaired.recipe, file, foreign);
  const tokensCut = repaired.removed.some((r) => overlaps(r, ["tokens", "add"]));
  const seen = new Set(schema.map((p) => `${p.code}|${JSON.stringify(p.path)}`));
  return [...checkRecipe(repaired.recipe), ...problems]
    .filter((p) => p.severity === "error")
    .map((p) => ({ ...p, path: repaired.originalPath(p.path) }))
    .filter(
      (p) =>
        !repaired.removed.some((r) => overlaps(r, p.path)) &&
        !(tokensCut && p.code === "sft/unknown-token") &&
        !seen.has(`${p.code}|${JSON.stringify(p.path)}`),
    );
}

function memoryProblem(plan: Plan): Problem {
  const gib = (n: number) => `${(n / 1024 ** 3).toFixed(2)} GiB`;
  const m = plan.memory;
  return {
    severity: "warning",
    code: "sft/memory-exceeds-device",
    message: `the estimated peak ${gib(m.peak)} exceeds the ${gib(m.device.bytes)} of the ${m.device.backend} device (${m.device.note})`,
    path:
      plan.batching.tokensPerMicroBatch !== null
        ? ["train", "tokensPerMicroBatch"]
        : ["train", "microBatchSize"],
    hint: `lower the micro-batch (activations ${gib(m.activations)}) and raise gradientAccumulation, or set gradientCheckpointing: true`,
  };
}

async function writePlan(
  plan: Plan,
  resolved: ResolvedRecipe,
  overrides: readonly Override[],
): Promise<void> {
  await mkdir(resolved.outputDir, { recursive: true });
  await writeJsonAtomic(join(resolved.outputDir, "plan.json"), PlanSchema.parse(plan));
  // The recipe as run; overrides also listed under `$overrides` (remove it to reuse the file as a recipe).
  const recipe = JSON.parse(stableJson(resolved.recipe));
  await writeJsonAtomic(
    join(resolved.outputDir, "recipe.resolved.json"),
    overrides.length ? { $overrides: overrideRecords(overrides), ...recipe } : recipe,
  );
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** Reads a plan.json back, validated against the schema of its version. */
export function readPlan(json: unknown): Plan {
  return displayable(PlanSchema.parse(json));
}
