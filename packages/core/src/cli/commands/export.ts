import { defineCommand } from "citty";
import { exportRecipe } from "../../export/export.ts";
import { type ExportTarget, exportTargets } from "../../export/types.ts";
import { formatDiagnostics } from "../../recipe/diagnostics.ts";
import { colorsFor } from "../../util/format.ts";
import { readSetFlags, setArg } from "../set-flags.ts";

export const exportCommand = defineCommand({
  meta: {
    name: "export",
    description: "Write a config + prepared data for Axolotl or TRL + accelerate (multi-GPU, multi-node)",
  },
  args: {
    recipe: { type: "positional", required: true, description: "Path to recipe.ts" },
    ...setArg,
    target: { type: "string", required: true, description: `Engine: ${exportTargets.join(" | ")}` },
    out: { type: "string", required: true, description: "Output folder" },
    "base-model": {
      type: "string",
      description:
        "Base model the engine loads (hub id or path), written as is; default: the hub id, else the model folder relative to --out",
    },
  },
  async run({ args, rawArgs }) {
    const sets = readSetFlags("export", rawArgs);
    if (!sets) return;
    if (!(exportTargets as readonly string[]).includes(args.target)) {
      process.stderr.write(
        `sft export: unknown --target \`${args.target}\` (use ${exportTargets.join(" or ")})\n`,
      );
      process.exitCode = 1;
      return;
    }
    const result = await exportRecipe(args.recipe, {
      target: args.target as ExportTarget,
      out: args.out,
      compile: { sets },
      ...(args["base-model"] !== undefined ? { baseModel: args["base-model"] } : {}),
    });
    const c = colorsFor(process.stderr);
    const color = c.isColorSupported;
    if (result.diagnostics.length)
      process.stderr.write(`${formatDiagnostics(result.diagnostics, { color })}\n\n`);
    if (!result.ok) {
      process.exitCode = 1;
      return;
    }
    const { train, eval: evalRows } = result.counts;
    process.stdout.write(
      `Wrote ${result.files.length} files to ${args.out} (${train} train rows, ${evalRows} eval rows): ${result.files.join(", ")}\n` +
        `Next: cd ${args.out} && ./launch.sh\n`,
    );
  },
});
