// Runs side by side (`sft compare`, a sweep's report): the recipe values that differ, final train/eval loss,
// probe recall, tokens/s, peak memory and wall time per run, the best run by a chosen metric, and the loss
// and eval curves overlaid. Read from run folders only (plan.json, recipe.resolved.json, metrics.jsonl, run.json).
import { existsSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { type RunState, readRunStatus } from "../train/run-status.ts";
import { formatBytes } from "../util/format.ts";
import { attachDisplay, type Displayable } from "./display.ts";
import { CSS, esc, factsTable, gridTable, inlineSvg } from "./html-util.ts";
import { type RunMetrics, readRunMetrics } from "./metrics.ts";
import { overlaySvg } from "./overlay-chart.ts";
import { readRunPlan } from "./write.ts";

export const compareMetrics = {
  "eval-loss": { better: "lower", label: "eval loss" },
  "train-loss": { better: "lower", label: "train loss" },
  "probe-recall": { better: "higher", label: "probe recall" },
  "tokens-per-second": { better: "higher", label: "tokens/s" },
  "peak-memory": { better: "lower", label: "peak memory" },
  "wall-time": { better: "lower", label: "wall time" },
} as const;
export type CompareMetric = keyof typeof compareMetrics;

export interface ComparedRun {
  /** The label in tables and legends: the folder's name. */
  label: string;
  dir: string;
  status: RunState | "planned" | "unknown";
  planHash: string | null;
  steps: number | null;
  /** The recipe's value at each differing path (JSON text). */
  values: Record<string, string>;
  finalLoss: number | null;
  finalEvalLoss: number | null;
  probeRecall: number | null;
  tokensPerSecond: number | null;
  peakRssBytes: number | null;
  wallSeconds: number | null;
}

export interface Comparison {
  runs: ComparedRun[];
  /** Recipe paths whose values differ between the runs (output.dir left out). */
  differing: string[];
  metric: CompareMetric;
  /** The best run by `metric` among those that have it (null when none has). */
  best: string | null;
  /** Curves, not in the JSON. */
  curves: { label: string; metrics: RunMetrics }[];
}

/** Flattens a resolved recipe to dotted paths; lists and leaves are JSON text. */
function flatten(value: unknown, prefix = "", out: Record<string, string> = {}): Record<string, string> {
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else out[prefix] = JSON.stringify(value);
  return out;
}

function readJson(file: string): unknown {
  try {
    return existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : null;
  } catch {
    return null;
  }
}

const last = <T>(xs: readonly T[]): T | undefined => xs[xs.length - 1];

/** Compares run folders; `metric` picks the best run (default: the lowest final eval loss). */
export function compareRuns(dirs: readonly string[], metric: CompareMetric = "eval-loss"): Comparison {
  const flat: Record<string, string>[] = [];
  const curves: Comparison["curves"] = [];
  const runs: ComparedRun[] = dirs.map((dir) => {
    const plan = readRunPlan(dir);
    const status = readRunStatus(dir);
    const metrics = readRunMetrics(join(dir, "metrics.jsonl"));
    const recipe = readJson(join(dir, "recipe.resolved.json")) as Record<string, unknown> | null;
    const { $overrides: _, ...asRun } = recipe ?? {};
    flat.push(recipe ? flatten(asRun) : {});
    const label = basename(dir);
    curves.push({ label, metrics });
    const tokens = metrics.steps.reduce((a, s) => a + (s.tokens ?? 0), 0);
    const seconds = metrics.steps.reduce((a, s) => a + (s.seconds ?? 0), 0);
    return {
      label,
      dir,
      status: status?.status ?? (plan ? "planned" : "unknown"),
      planHash: plan?.recipe.hash ?? null,
      steps: last(metrics.steps)?.step ?? status?.steps ?? null,
      values: {},
      finalLoss: last(metrics.steps)?.loss ?? null,
      finalEvalLoss: last(metrics.evals)?.evalLoss ?? null,
      probeRecall: last(metrics.probes)?.recall ?? null,
      tokensPerSecond: seconds > 0 ? tokens / seconds : (status?.tokensPerSecond ?? null),
      peakRssBytes: status?.peakRssBytes ?? null,
      wallSeconds: status?.wallSeconds ?? null,
    };
  });
  const paths = [...new Set(flat.flatMap((f) => Object.keys(f)))].sort();
  const differing = paths.filter(
    (p) => p !== "output.dir" && new Set(flat.map((f) => f[p] ?? "undefined")).size > 1,
  );
  for (const [i, run] of runs.entries()) for (const p of differing) run.values[p] = flat[i]![p] ?? "–";
  return { runs, differing, metric, best: bestRun(runs, metric), curves };
}

function metricValue(r: ComparedRun, metric: CompareMetric): number | null {
  switch (metric) {
    case "eval-loss":
      return r.finalEvalLoss;
    case "train-loss":
      return r.finalLoss;
    case "probe-recall":
      return r.probeRecall;
    case "tokens-per-second":
      return r.tokensPerSecond;
    case "peak-memory":
      return r.peakRssBytes;
    case "wall-time":
      return r.wallSeconds;
  }
}

function bestRun(runs: readonly ComparedRun[], metric: CompareMetric): string | null {
  const sign = compareMetrics[metric].better === "lower" ? 1 : -1;
  let best: ComparedRun | null = null;
  for (const r of runs) {
    const v = metricValue(r, metric);
    if (v === null || !Number.isFinite(v)) continue;
    if (!best || sign * v < sign * metricValue(best, metric)!) best = r;
  }
  return best?.label ?? null;
}

const fixed = (x: number | null, d = 4) => (x === null ? "–" : String(Number(x.toFixed(d))));

/** The table's rows: one per run, differing values first, then the numbers. */
function tableRows(c: Comparison): { head: string[]; rows: string[][] } {
  const head = [
    "run",
    "status",
    ...c.differing,
    "steps",
    "train loss",
    "eval loss",
    "probe recall",
    "tokens/s",
    "peak memory",
    "wall time",
  ];
  const rows = c.runs.map((r) => [
    r.label === c.best ? `${r.label} (best)` : r.label,
    r.status,
    ...c.differing.map((p) => r.values[p] ?? "–"),
    r.steps === null ? "–" : String(r.steps),
    fixed(r.finalLoss),
    fixed(r.finalEvalLoss),
    r.probeRecall === null ? "–" : `${(r.probeRecall * 100).toFixed(0)}%`,
    r.tokensPerSecond === null ? "–" : String(Math.round(r.tokensPerSecond)),
    r.peakRssBytes === null ? "–" : formatBytes(r.peakRssBytes),
    r.wallSeconds === null ? "–" : `${r.wallSeconds.toFixed(1)} s`,
  ]);
  return { head, rows };
}

/** The comparison as JSON (no curves' points: they are in each run's metrics.jsonl). */
export function comparisonJson(c: Comparison): Omit<Comparison, "curves"> {
  const { curves: _, ...rest } = c;
  return rest;
}

/** The comparison as text, for a terminal. */
export function comparisonText(c: Comparison): string {
  const { head, rows } = tableRows(c);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((x, i) => x.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  const best = c.best
    ? `best by ${compareMetrics[c.metric].label}: ${c.best}`
    : `no run has a ${compareMetrics[c.metric].label} yet`;
  return [line(head), ...rows.map(line), "", best].join("\n");
}

/** The comparison's body (tables and overlaid curves), for the page and a notebook. */
export async function comparisonFragment(c: Comparison): Promise<string> {
  const { head, rows } = tableRows(c);
  const label = compareMetrics[c.metric].label;
  const trainRows = c.curves.flatMap(({ label, metrics }) =>
    metrics.steps.map((s) => ({ step: s.step, value: s.loss, series: label })),
  );
  const evalRows = c.curves.flatMap(({ label, metrics }) =>
    metrics.evals.map((e) => ({ step: e.step, value: e.evalLoss, series: label })),
  );
  const charts = [
    await overlaySvg("Train loss", "loss", trainRows),
    await overlaySvg("Eval loss", "eval loss", evalRows, { points: true }),
  ];
  return [
    factsTable([
      ["runs", String(c.runs.length)],
      ["values that differ", c.differing.join(", ") || "none"],
      [`best by ${label}`, c.best ?? "–"],
    ]),
    `<h2>Runs</h2>${gridTable(head, rows)}`,
    `<h2>Curves</h2><div class="charts">${charts.map(inlineSvg).join("")}</div>`,
    `<h2>Folders</h2>${factsTable(c.runs.map((r) => [r.label, r.dir]))}`,
  ].join("");
}

/** A self-contained page (no scripts, no URLs), styled as report.html. */
export async function comparisonHtml(c: Comparison, title = "Run comparison"): Promise<string> {
  return [
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">`,
    `<title>${esc(title)}</title><style>body{margin:24px auto;max-width:1180px;padding:0 16px}${CSS}</style></head>`,
    `<body><div class="sftkit"><h1>${esc(title)}</h1>`,
    await comparisonFragment(c),
    "</div></body></html>\n",
  ].join("");
}

/** The comparison with a notebook display (a Deno Jupyter cell shows the tables and curves). */
export function displayComparison(c: Comparison): Comparison & Displayable {
  return attachDisplay(
    c,
    () => comparisonFragment(c),
    () => comparisonText(c),
  );
}
