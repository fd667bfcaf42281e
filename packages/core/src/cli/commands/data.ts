import { defineCommand } from "citty";
import { compileRecipe } from "../../compile/compile.ts";
import { reportDiagnostics } from "../report.ts";

export const dataCommand = defineCommand({
  meta: {
    name: "data",
    description: "Render samples with their trained tokens, per-source statistics, the data report",
  },
  args: {
    recipe: { type: "positional", required: true, description: "Path to recipe.ts" },
    inspect: { type: "string", description: "Print N rendered samples", default: "3" },
    json: { type: "boolean", description: "Print {source, row, text, input_ids, labels} per sample as JSON" },
    report: { type: "string", description: "Write the data-quality report (not built yet)" },
  },
  async run({ args }) {
    if (args.report) {
      process.stderr.write("sft data --report: the data-quality report is not built yet\n");
      process.exitCode = 2;
      return;
    }
    const result = await compileRecipe(args.recipe, { write: false });
    if (!reportDiagnostics(result)) return;
    process.stderr.write("sft data --inspect: not built yet\n");
    process.exitCode = 2;
  },
});
