import { defineCommand } from "citty";
import { compileRecipe } from "../../compile/compile.ts";
import { formatPlanSummary } from "../../report/plan-summary.ts";
import { colorsFor } from "../../util/format.ts";
import { reportDiagnostics } from "../report.ts";
import { readSetFlags, setArg } from "../set-flags.ts";

export const planCommand = defineCommand({
  meta: { name: "plan", description: "Compile a recipe and print its plan (no training)" },
  args: {
    recipe: { type: "positional", required: true, description: "Path to recipe.ts" },
    ...setArg,
    json: { type: "boolean", description: "Print the plan as JSON" },
    data: { type: "boolean", default: true, description: "Read and tokenize the data (--no-data skips it)" },
    verbose: { type: "boolean", description: "Also print the compute kernels each op will use" },
  },
  async run({ args, rawArgs }) {
    const sets = readSetFlags("plan", rawArgs);
    if (!sets) return;
    const result = await compileRecipe(args.recipe, { readData: args.data, sets });
    if (!reportDiagnostics(result) || !result.plan) return;
    if (args.json) process.stdout.write(`${JSON.stringify(result.plan, null, 2)}\n`);
    else
      process.stdout.write(
        `${formatPlanSummary(result.plan, colorsFor(process.stdout), process.cwd(), { verbose: args.verbose })}\n`,
      );
  },
});
