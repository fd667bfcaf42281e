// Run charts as vega-lite specs, compiled and rendered to SVG in Node (no browser, no canvas).
import * as vega from "vega";
import type { TopLevelSpec } from "vega-lite";
import { compile } from "vega-lite";
import { type RunMetrics, throughput } from "./metrics.ts";

// resvg takes the first family it has; vega only estimates text width, so any sans face fits.
const FONT = "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif";
const WIDTH = 560;
const HEIGHT = 220;

type Row = Record<string, number | string>;

function base(title: string): Partial<TopLevelSpec> {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title,
    width: WIDTH,
    height: HEIGHT,
    background: "white",
    config: { font: FONT, view: { stroke: "#ddd" }, axis: { labelFontSize: 11, titleFontSize: 12 } },
  } as Partial<TopLevelSpec>;
}

/** A chart with nothing to plot yet: the title and a note, so a report of a run stopped early still reads. */
function emptySpec(title: string, note: string): TopLevelSpec {
  return {
    ...base(title),
    data: { values: [{ note }] },
    mark: { type: "text", fontSize: 13, color: "#777" },
    encoding: { text: { field: "note", type: "nominal" } },
  } as TopLevelSpec;
}

function seriesSpec(
  title: string,
  yTitle: string,
  rows: Row[],
  opts: { domain: string[]; colors: string[]; yFormat?: string; points?: string[] },
): TopLevelSpec {
  const present = opts.domain.filter((d) => rows.some((r) => r.series === d));
  const color = {
    field: "series",
    type: "nominal",
    title: null,
    scale: { domain: present, range: present.map((d) => opts.colors[opts.domain.indexOf(d)]) },
    // One series needs no legend; several get one above the plot, clear of the lines.
    legend: present.length > 1 ? { orient: "top", direction: "horizontal" } : null,
  };
  const y = {
    field: "value",
    type: "quantitative",
    title: yTitle,
    scale: { zero: false },
    ...(opts.yFormat ? { axis: { format: opts.yFormat } } : {}),
  };
  const x = { field: "step", type: "quantitative", title: "step", axis: { tickMinStep: 1, format: "d" } };
  // One point per series is drawn as a dot: a line needs two.
  const layers = present.map((series) => ({
    transform: [{ filter: { field: "series", equal: series } }],
    mark: {
      type: "line",
      point: opts.points?.includes(series) || rows.filter((r) => r.series === series).length === 1,
      strokeWidth: 2,
    },
    encoding: { x, y, color },
  }));
  return { ...base(title), data: { values: rows }, layer: layers } as TopLevelSpec;
}

export function lossSpec(m: RunMetrics): TopLevelSpec {
  if (m.steps.length === 0 && m.evals.length === 0) return emptySpec("Loss", "no steps logged yet");
  const rows: Row[] = [
    ...m.steps.map((s) => ({ step: s.step, value: s.loss, series: "train loss" })),
    ...m.evals.map((e) => ({ step: e.step, value: e.evalLoss, series: "eval loss" })),
  ];
  return seriesSpec("Loss", "loss", rows, {
    domain: ["train loss", "eval loss"],
    colors: ["#4c78a8", "#e45756"],
    points: ["eval loss"],
  });
}

export function learningRateSpec(m: RunMetrics): TopLevelSpec {
  const rows: Row[] = m.steps.flatMap((s) =>
    s.lr === undefined ? [] : [{ step: s.step, value: s.lr, series: "learning rate" }],
  );
  if (rows.length === 0) return emptySpec("Learning rate", "no learning rate logged yet");
  return seriesSpec("Learning rate", "learning rate", rows, {
    domain: ["learning rate"],
    colors: ["#54a24b"],
    yFormat: ".1e",
  });
}

export function throughputSpec(m: RunMetrics, window = 10): TopLevelSpec {
  const per = throughput(m);
  if (per.length === 0) return emptySpec("Throughput", "no timed steps logged yet");
  const rows: Row[] = per.map((p) => ({ step: p.step, value: p.tokensPerSecond, series: "tokens/s" }));
  // The mean over the last `window` steps smooths the first step's warm-up and eval pauses.
  if (per.length > window) {
    per.forEach((p, i) => {
      const span = per.slice(Math.max(0, i - window + 1), i + 1);
      const mean = span.reduce((a, q) => a + q.tokensPerSecond, 0) / span.length;
      rows.push({ step: p.step, value: mean, series: `mean of ${window}` });
    });
  }
  return seriesSpec("Throughput", "tokens/s", rows, {
    domain: ["tokens/s", `mean of ${window}`],
    colors: ["#b0b0b0", "#f58518"],
  });
}

export function probeRecallSpec(m: RunMetrics): TopLevelSpec {
  if (m.probes.length === 0) return emptySpec("Probe recall", "no probe evaluation logged");
  const rows: Row[] = m.probes.map((p) => ({ step: p.step, value: p.recall, series: "probe recall" }));
  const spec = seriesSpec("Probe recall", "probe recall", rows, {
    domain: ["probe recall"],
    colors: ["#b279a2"],
    yFormat: ".0%",
    points: ["probe recall"],
  }) as { layer: { encoding: { y: Record<string, unknown> } }[] };
  // Recall is a share: always show 0 to 100%.
  for (const l of spec.layer) l.encoding.y = { ...l.encoding.y, scale: { domain: [0, 1] } };
  return spec as unknown as TopLevelSpec;
}

let chartCount = 0;

/** Compiles a vega-lite spec and renders it to a standalone SVG string. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const compiled = compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    const svg = await view.toSVG();
    return uniqueIds(svg, `c${++chartCount}-`);
  } finally {
    view.finalize();
  }
}

/** Gives the SVG's ids (clip paths, gradients) a prefix, so several charts inlined in one page do not clash. */
function uniqueIds(svg: string, prefix: string): string {
  return svg
    .replace(/\bid="([^"]+)"/g, `id="${prefix}$1"`)
    .replace(/url\(#([^)]+)\)/g, `url(#${prefix}$1)`)
    .replace(/href="#([^"]+)"/g, `href="#${prefix}$1"`);
}

export const lossCurveSvg = (m: RunMetrics): Promise<string> => renderSvg(lossSpec(m));
export const learningRateSvg = (m: RunMetrics): Promise<string> => renderSvg(learningRateSpec(m));
export const throughputSvg = (m: RunMetrics): Promise<string> => renderSvg(throughputSpec(m));
export const probeRecallSvg = (m: RunMetrics): Promise<string> => renderSvg(probeRecallSpec(m));
