// One curve per run on shared axes (the comparison's train and eval loss), rendered like the run charts.
import type { TopLevelSpec } from "vega-lite";
import { renderSvg } from "./charts.ts";

// Tableau 10: distinct at a glance, in print and for most colour vision.
const COLORS = ["#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2", "#ff9da6"];
const FONT = "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif";

export interface OverlayRow {
  step: number;
  value: number;
  series: string;
}

export function overlaySpec(
  title: string,
  yTitle: string,
  rows: readonly OverlayRow[],
  opts: { points?: boolean } = {},
): TopLevelSpec {
  const series = [...new Set(rows.map((r) => r.series))];
  const base = {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title,
    width: 560,
    height: 220,
    background: "white",
    config: { font: FONT, view: { stroke: "#ddd" }, axis: { labelFontSize: 11, titleFontSize: 12 } },
  };
  if (rows.length === 0)
    return {
      ...base,
      data: { values: [{ note: "nothing logged yet" }] },
      mark: { type: "text", fontSize: 13, color: "#777" },
      encoding: { text: { field: "note", type: "nominal" } },
    } as TopLevelSpec;
  return {
    ...base,
    data: { values: rows.map((r) => ({ ...r })) },
    mark: { type: "line", point: opts.points ?? false, strokeWidth: 2 },
    encoding: {
      x: { field: "step", type: "quantitative", title: "step", axis: { tickMinStep: 1, format: "d" } },
      y: { field: "value", type: "quantitative", title: yTitle, scale: { zero: false } },
      color: {
        field: "series",
        type: "nominal",
        title: null,
        scale: { domain: series, range: series.map((_, i) => COLORS[i % COLORS.length]) },
        legend: { orient: "top", direction: "horizontal", columns: 2, labelLimit: 400 },
      },
    },
  } as TopLevelSpec;
}

export const overlaySvg = (
  title: string,
  yTitle: string,
  rows: readonly OverlayRow[],
  opts: { points?: boolean } = {},
): Promise<string> => renderSvg(overlaySpec(title, yTitle, rows, opts));
