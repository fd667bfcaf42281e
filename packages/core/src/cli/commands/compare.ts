import { mkdir } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { defineCommand } from "citty";
import {
  type CompareMetric,
  compareMetrics,
  compareRuns,
  comparisonHtml,
  comparisonJson,
  comparisonText,
} from "../../report/compare.ts";
import { readRunPlan } from "../../report/write.ts";
import { writeFileAtomic } from "../../util/atomic-write.ts";

const metricNames = Object.keys(compareMetrics) as CompareMetric[];

/** `--metric`, or null (a line on stderr, exit code 1) when it names no metric. */
export function readMetric(command: string, value: string | undefined): CompareMetric | null {
  const metric = value ?? "eval-loss";
  if ((metricNames as string[]).includes(metric)) return metric as CompareMetric;
  process.stderr.write(`sft ${command}: unknown --metric "${metric}" (use ${metricNames.join(", ")})\n`);
  process.exitCode = 1;
  return null;
}

export const compareCommand = defineCommand({
  meta: {
    name: "compare",
    description: "Compare run folders: differing values, final losses, recall, speed, memory; HTML and JSON",
  },
  args: {
    runs: { type: "positional", required: true, description: "Run folders (out/a out/b ...)" },
    metric: { type: "string", description: `Best run by: ${metricNames.join(" | ")} (default eval-loss)` },
    report: {
      type: "string",
      description: "Write the comparison as HTML to FILE (a .json name writes JSON)",
    },
    json: { type: "boolean", description: "Print the comparison as JSON" },
  },
  async run({ args }) {
    const metric = readMetric("compare", args.metric);
    if (!metric) return;
    // Every positional argument is a run folder (citty keeps only the first under `runs`).
    const dirs = (args._ as string[]).map((d) => resolve(d));
    const missing = dirs.filter((d) => !readRunPlan(d));
    if (missing.length) {
      for (const d of missing)
        process.stderr.write(`sft compare: ${d} is not a run folder (no valid plan.json)\n`);
      process.exitCode = 1;
      return;
    }
    const c = compareRuns(dirs, metric);
    if (args.report) {
      const file = resolve(args.report);
      await mkdir(dirname(file), { recursive: true });
      const text = file.endsWith(".json")
        ? `${JSON.stringify(comparisonJson(c), null, 2)}\n`
        : await comparisonHtml(c);
      await writeFileAtomic(file, text);
      process.stderr.write(`wrote ${file}\n`);
    }
    if (args.json) process.stdout.write(`${JSON.stringify(comparisonJson(c), null, 2)}\n`);
    else process.stdout.write(`${comparisonText(c)}\n`);
  },
});
