import { defineCommand } from "citty";
import { compileRecipe } from "../../compile/compile.ts";
import { colorsFor } from "../format.ts";
import { formatPlanSummary } from "../plan-summary.ts";
import { reportDiagnostics } from "../report.ts";

/** Compiles, shows the plan, then trains (the training loop is not built yet). */
export async function runRecipe(
  recipe: string,
  opts: { resume?: boolean; maxSteps?: number } = {},
): Promise<void> {
  const result = await compileRecipe(recipe);
  if (!reportDiagnostics(result) || !result.plan) return;
  const c = colorsFor(process.stdout);
  process.stdout.write(`${formatPlanSummary(result.plan, c)}\n\n`);
  process.stdout.write(
    `${c.yellow("sft run:")} training is not built yet; the plan above was written to ${result.plan.output.dir}/plan.json.${opts.resume ? " (--resume has nothing to resume.)" : ""}\n`,
  );
  process.exitCode = 2;
}

export const runCommand = defineCommand({
  meta: { name: "run", description: "Compile a recipe and train it" },
  args: {
    recipe: { type: "positional", required: true, description: "Path to recipe.ts" },
    resume: { type: "boolean", description: "Continue from the last checkpoint" },
    "max-steps": { type: "string", description: "Stop after N optimizer steps" },
  },
  async run({ args }) {
    await runRecipe(args.recipe, {
      resume: args.resume,
      ...(args["max-steps"] ? { maxSteps: Number(args["max-steps"]) } : {}),
    });
  },
});
