// `tsx recipe.ts`: when the entry module is a recipe file, run it as `sft run recipe.ts` would. Only the package
// entry (index.ts) imports this module, so defineRecipe stays a pure declaration and nothing below the CLI
// imports it; this is the one place besides the `sft` bin that reaches cli/.
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { loadingRecipeFlag, recipeSourceFile } from "./recipe/define.ts";

const scheduled = Symbol.for("sftkit.directRunScheduled");

/** The entry script when it is TypeScript run by tsx (not the `sft` bin, a test runner or a dependency). */
export function typeScriptEntry(argv: readonly string[] = process.argv): string | undefined {
  const entry = argv[1];
  if (!entry || !/\.[cm]?tsx?$/.test(entry) || /[\\/]node_modules[\\/]/.test(entry)) return undefined;
  return resolve(entry);
}

/** A recipe made by defineRecipe/extendRecipe: they tag it with the file it was written in. */
export function isTaggedRecipe(value: unknown): boolean {
  return typeof value === "object" && value !== null && recipeSourceFile in value;
}

function scheduleDirectRun(): void {
  const globals = globalThis as Record<symbol, unknown>;
  // The CLI imports recipe files with this flag set; the package entry may also be evaluated more than once.
  if (globals[loadingRecipeFlag] || globals[scheduled]) return;
  const file = typeScriptEntry();
  if (!file) return;
  globals[scheduled] = true;
  // The entry module imports this package, so it evaluates first: wait for the entry, then look at its export.
  setImmediate(() => {
    import(pathToFileURL(file).href)
      .then(async (mod: { default?: unknown }) => {
        if (!isTaggedRecipe(mod.default)) return;
        const { runRecipeFileDirectly } = await import("./cli/direct.ts");
        await runRecipeFileDirectly(file);
      })
      .catch((err: unknown) => {
        console.error(err);
        process.exitCode = 1;
      });
  });
}

scheduleDirectRun();
