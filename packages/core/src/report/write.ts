// writeRunReport: the charts (SVG + PNG) and report.html of a run folder, from its metrics.jsonl and plan.json.
// Called at the end of a run, and safe on any run folder: a partial metrics file, no eval lines, no plan.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type Plan, PlanSchema } from "../compile/plan-schema.ts";
import { writeFileAtomic } from "../util/atomic-write.ts";
import { learningRateSvg, lossCurveSvg, probeRecallSvg, throughputSvg } from "./charts.ts";
import { readRunMetrics } from "./metrics.ts";
import { svgToPng } from "./png.ts";
import { runReportHtml } from "./run-html.ts";

export interface RunReportFiles {
  /** Absolute paths written: plots/*.svg, plots/*.png, report.html. */
  files: string[];
  /** What could not be written (e.g. PNGs on a platform without resvg's binary); the rest still was. */
  warnings: string[];
}

/** The plan of a run folder, or null when plan.json is missing or not a valid plan. */
export function readRunPlan(outDir: string): Plan | null {
  const file = join(outDir, "plan.json");
  if (!existsSync(file)) return null;
  try {
    const parsed = PlanSchema.safeParse(JSON.parse(readFileSync(file, "utf8")));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

export async function writeRunReport(outDir: string): Promise<RunReportFiles> {
  const metrics = readRunMetrics(join(outDir, "metrics.jsonl"));
  const plan = readRunPlan(outDir);
  const charts = {
    loss: await lossCurveSvg(metrics),
    learningRate: await learningRateSvg(metrics),
    throughput: await throughputSvg(metrics),
    // Only for runs that evaluate knowledge probes.
    probeRecall: metrics.probes.length ? await probeRecallSvg(metrics) : undefined,
  };
  const files: string[] = [];
  const warnings: string[] = [];
  const write = async (name: string, data: string | Uint8Array) => {
    const path = join(outDir, name);
    await writeFileAtomic(path, data);
    files.push(path);
  };
  const names = {
    loss: "loss",
    learningRate: "learning-rate",
    throughput: "throughput",
    probeRecall: "probe-recall",
  } as const;
  for (const [key, name] of Object.entries(names) as [keyof typeof names, string][]) {
    const svg = charts[key];
    if (svg === undefined) continue;
    await write(`plots/${name}.svg`, svg);
    try {
      await write(`plots/${name}.png`, await svgToPng(svg));
    } catch (e) {
      warnings.push(`plots/${name}.png not written: ${(e as Error).message}`);
    }
  }
  await write("report.html", runReportHtml({ plan, metrics, charts }));
  return { files, warnings };
}
