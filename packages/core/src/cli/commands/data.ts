import { defineCommand } from "citty";
import { compileRecipe } from "../../compile/compile.ts";
import { formatInspection, formatSourceStats, inspectJson, pickSamples } from "../../data/inspect/index.ts";
import { colorsFor } from "../../util/format.ts";
import { reportDiagnostics } from "../report.ts";
import { readSetFlags, setArg } from "../set-flags.ts";
import { writeQualityReport } from "./data-report.ts";

export const dataCommand = defineCommand({
  meta: {
    name: "data",
    description:
      "Rendered samples with their trained tokens marked, per-source statistics, the data-quality report",
  },
  args: {
    recipe: { type: "positional", required: true, description: "Path to recipe.ts" },
    ...setArg,
    inspect: { type: "string", description: "Print N rendered samples (trained tokens highlighted)" },
    json: {
      type: "boolean",
      description: "Print {source, file, row, text, input_ids, labels} per sample as JSON",
    },
    report: {
      type: "string",
      description:
        "Write the data-quality report to FILE: HTML, or JSON with --json or a .json name (- for stdout)",
    },
  },
  async run({ args, rawArgs }) {
    const sets = readSetFlags("data", rawArgs);
    if (!sets) return;
    if (args.report !== undefined) {
      await writeQualityReport(args.recipe, args.report, Boolean(args.json), sets);
      return;
    }
    const n = args.inspect === undefined ? (args.json ? 3 : 0) : Number(args.inspect);
    if (!Number.isInteger(n) || n < 0) {
      process.stderr.write(`sft data: --inspect takes a count, got "${args.inspect}"\n`);
      process.exitCode = 1;
      return;
    }
    const result = await compileRecipe(args.recipe, { write: false, sets });
    if (!reportDiagnostics(result)) return;
    const prepared = result.data?.prepared;
    const tokenizer = result.resolved?.tokenizer;
    if (!prepared || !tokenizer) {
      process.stderr.write("sft data: the recipe's data could not be prepared\n");
      process.exitCode = 1;
      return;
    }
    // The text as the template wrote it (no "▁" a legacy SentencePiece tokenizer adds after special tokens).
    const decode = (ids: number[]) => tokenizer.decodeAsWritten(ids);
    const baseDir = result.resolved?.baseDir;
    const samples = pickSamples(prepared, n);
    if (args.json) {
      process.stdout.write(
        `${JSON.stringify(inspectJson(samples, { n, decode, ...(baseDir ? { baseDir } : {}) }), null, 2)}\n`,
      );
      return;
    }
    const color = colorsFor(process.stdout).isColorSupported;
    const parts: string[] = [];
    if (n > 0) {
      parts.push(
        formatInspection(samples, {
          n,
          color,
          decode,
          tokenText: (id) => tokenizer.idToToken(id) ?? `<${id}>`,
          ...(baseDir ? { baseDir } : {}),
        }),
      );
    }
    parts.push(formatSourceStats(prepared.reports));
    process.stdout.write(`${parts.join("\n\n")}\n`);
  },
});
