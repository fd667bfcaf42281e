// A run's result that displays its numbers and loss curve in Jupyter, and a one-paragraph summary elsewhere.
// Structural: works on the loop's RunResult and on any object that names a run folder or metrics file.
import { join } from "node:path";
import { formatBytes, formatCount } from "../util/format.ts";
import { lossCurveSvg } from "./charts.ts";
import { attachDisplay, type Displayable } from "./display.ts";
import { esc, factsTable, inlineSvg } from "./html-util.ts";
import { readRunMetrics } from "./metrics.ts";
import { planHtml } from "./plan-html.ts";
import { readRunPlan } from "./write.ts";

export interface RunResultLike {
  metricsFile?: string;
  outputDir?: string;
  steps?: number;
  epochs?: number;
  loss?: number | null;
  initialEvalLoss?: number | null;
  evalLoss?: number | null;
  /** Knowledge-probe recall at the last evaluation (0..1), when the recipe has probes. */
  probeRecall?: number | null;
  tokens?: number;
  seconds?: number;
  tokensPerSecond?: number;
  peakRssBytes?: number;
  /** The engine's own high-water mark (the wasm heap, the cuda engine's GPU buffers), where it keeps one. */
  enginePeakBytes?: number;
  interrupted?: boolean;
  checkpoint?: string | null;
  artefacts?: readonly string[];
  samples?: readonly { prompt: string; completion: string }[];
}

const fixed = (x: number | null | undefined, d = 4) =>
  x === null || x === undefined ? "–" : String(Number(x.toFixed(d)));

function metricsPath(r: RunResultLike): string | null {
  return r.metricsFile ?? (r.outputDir ? join(r.outputDir, "metrics.jsonl") : null);
}

function facts(r: RunResultLike): [string, string][] {
  const rows: [string, string | undefined][] = [
    [
      "steps",
      r.steps === undefined
        ? undefined
        : `${r.steps}${r.epochs !== undefined ? ` (epoch ${fixed(r.epochs, 2)})` : ""}`,
    ],
    ["last loss", r.loss === undefined ? undefined : fixed(r.loss)],
    [
      "eval loss",
      r.evalLoss === undefined && r.initialEvalLoss === undefined
        ? undefined
        : `${fixed(r.initialEvalLoss)} → ${fixed(r.evalLoss)}`,
    ],
    [
      "probe recall",
      r.probeRecall === undefined || r.probeRecall === null
        ? undefined
        : `${(r.probeRecall * 100).toFixed(0)}%`,
    ],
    ["tokens", r.tokens === undefined ? undefined : formatCount(r.tokens)],
    ["time", r.seconds === undefined ? undefined : `${r.seconds.toFixed(1)} s`],
    ["tokens/s", r.tokensPerSecond === undefined ? undefined : String(Math.round(r.tokensPerSecond))],
    [
      "peak memory",
      r.peakRssBytes === undefined
        ? undefined
        : `${formatBytes(r.peakRssBytes)} (the process's resident maximum, measured)`,
    ],
    [
      "engine peak",
      r.enginePeakBytes === undefined
        ? undefined
        : `${formatBytes(r.enginePeakBytes)} (the engine's own memory at its largest: wasm heap or GPU buffers)`,
    ],
    ["interrupted", r.interrupted === undefined ? undefined : r.interrupted ? "yes" : "no"],
    ["output", r.outputDir],
    ["checkpoint", r.checkpoint ?? undefined],
    ["artefacts", r.artefacts?.length ? r.artefacts.join(", ") : undefined],
  ];
  return rows.filter((row): row is [string, string] => row[1] !== undefined);
}

export function runText(r: RunResultLike): string {
  return ["Run", ...facts(r).map(([k, v]) => `  ${k.padEnd(12)} ${v}`)].join("\n");
}

export async function runHtml(r: RunResultLike): Promise<string> {
  const file = metricsPath(r);
  const parts = [`<h2>Run${r.interrupted ? " (interrupted)" : ""}</h2>`, factsTable(facts(r))];
  if (file) parts.push(`<div class="charts">${inlineSvg(await lossCurveSvg(readRunMetrics(file)))}</div>`);
  for (const s of r.samples ?? [])
    parts.push(`<h3>Sample</h3><pre>${esc(s.prompt)}</pre><pre>${esc(s.completion)}</pre>`);
  const plan = r.outputDir ? readRunPlan(r.outputDir) : null;
  if (plan) parts.push(`<details><summary>Plan</summary>${planHtml(plan)}</details>`);
  return parts.join("");
}

/** The same result object with non-enumerable display methods (the loss curve is read from its metrics file). */
export function displayRunResult<R extends RunResultLike>(result: R): R & Displayable {
  return attachDisplay(
    result,
    () => runHtml(result),
    () => runText(result),
  );
}
