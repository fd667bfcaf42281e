// `tsx recipe.ts`: a recipe run as the entry module does what `sft run recipe.ts` does.
import { runArgs, runRecipe } from "./commands/run.ts";
import { reportFailure } from "./failure.ts";
import { argProblems } from "./flags.ts";
import { readSetFlags } from "./set-flags.ts";

export async function runRecipeFileDirectly(file: string): Promise<void> {
  const args = process.argv.slice(2);
  // The same flags as `sft run`, as strictly: the recipe is the script itself, not an argument.
  const { recipe: _, ...flags } = runArgs;
  const problems = argProblems(flags, args);
  if (problems.length) {
    process.stderr.write(problems.map((p) => `${file}: ${p}\n`).join(""));
    process.exitCode = 1;
    return;
  }
  const at = args.indexOf("--max-steps");
  const flag = args.find((a) => a.startsWith("--max-steps="));
  // A flag without its number is passed on as "", which runRecipe rejects in one line.
  const maxSteps = flag ? flag.slice("--max-steps=".length) : at >= 0 ? (args[at + 1] ?? "") : undefined;
  const sets = readSetFlags("run", args);
  if (!sets) return;
  try {
    await runRecipe(file, {
      sets,
      resume: args.includes("--resume"),
      overwrite: args.includes("--overwrite"),
      ...(maxSteps !== undefined ? { maxSteps } : {}),
    });
  } catch (e) {
    if (!reportFailure("run", e)) throw e;
  }
}
