// report.html: one self-contained page per run — summary, inline charts, the plan's facts, the last samples.
// No scripts, no external stylesheets or fonts, no URLs: it opens from disk, offline, anywhere.

import type { Plan } from "../compile/plan-schema.ts";
import { formatCount } from "../util/format.ts";
import { CSS, esc, factsTable, inlineSvg } from "./html-util.ts";
import { type RunMetrics, throughput } from "./metrics.ts";
import { planHtml } from "./plan-html.ts";

export interface RunCharts {
  loss: string;
  learningRate: string;
  throughput: string;
  probeRecall?: string;
}

const fixed = (x: number | undefined, d = 4) => (x === undefined ? "–" : String(Number(x.toFixed(d))));

/** The run's numbers so far, from its metrics alone (a run stopped early has fewer of them). */
export function runSummaryFacts(m: RunMetrics): [string, string][] {
  const last = m.steps.at(-1);
  const firstEval = m.evals[0];
  const lastEval = m.evals.at(-1);
  const best = m.evals.reduce<number | undefined>(
    (b, e) => (b === undefined ? e.evalLoss : Math.min(b, e.evalLoss)),
    undefined,
  );
  const tokens = m.steps.reduce((a, s) => a + (s.tokens ?? 0), 0);
  const seconds = m.steps.reduce((a, s) => a + (s.seconds ?? 0), 0);
  const timed = throughput(m);
  const probe = m.probes.at(-1);
  return [
    ["steps logged", String(m.steps.length)],
    [
      "last step",
      last ? `${last.step}${last.epoch !== undefined ? ` (epoch ${fixed(last.epoch, 2)})` : ""}` : "–",
    ],
    ["first / last loss", m.steps.length ? `${fixed(m.steps[0]?.loss)} / ${fixed(last?.loss)}` : "–"],
    [
      "eval loss (first / last / best)",
      lastEval
        ? `${fixed(firstEval?.evalLoss)} / ${fixed(lastEval.evalLoss)} / ${fixed(best)}`
        : "no evaluation yet",
    ],
    ...(probe
      ? [["probe recall", `${(probe.recall * 100).toFixed(1)}% at step ${probe.step}`] as [string, string]]
      : []),
    ["tokens trained", formatCount(tokens)],
    ["training time", seconds ? `${seconds.toFixed(1)} s` : "–"],
    ["tokens/s", timed.length && seconds ? String(Math.round(tokens / seconds)) : "–"],
  ];
}

function samplesHtml(m: RunMetrics): string {
  const lastStep = m.samples.at(-1)?.step;
  if (lastStep === undefined) return "";
  const shown = m.samples.filter((s) => s.step === lastStep);
  const items = shown
    .map((s) => `<h3>Prompt</h3><pre>${esc(s.prompt)}</pre><h3>Answer</h3><pre>${esc(s.completion)}</pre>`)
    .join("");
  return `<h2>Samples at step ${lastStep}</h2>${items}`;
}

export function runReportHtml(opts: {
  plan: Plan | null;
  metrics: RunMetrics;
  charts: RunCharts;
  title?: string;
}): string {
  const title = opts.title ?? `Run report: ${opts.plan?.recipe.name ?? "sftkit run"}`;
  const c = opts.charts;
  return [
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">`,
    `<title>${esc(title)}</title><style>body{margin:24px auto;max-width:1180px;padding:0 16px}${CSS}</style></head>`,
    `<body><div class="sftkit"><h1>${esc(title)}</h1>`,
    factsTable(runSummaryFacts(opts.metrics)),
    `<h2>Curves</h2><div class="charts">${[c.loss, c.probeRecall, c.learningRate, c.throughput]
      .filter((x) => x !== undefined)
      .map(inlineSvg)
      .join("")}</div>`,
    samplesHtml(opts.metrics),
    opts.plan ? planHtml(opts.plan) : `<h2>Plan</h2><p class="muted">plan.json is missing or unreadable.</p>`,
    `</div></body></html>`,
  ].join("\n");
}
