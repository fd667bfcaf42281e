import { describe, expect, it } from "vitest";
import { learningRateSvg, lossCurveSvg, probeRecallSvg, throughputSvg } from "./charts.ts";
import { parseMetrics } from "./metrics.ts";
import { stripText, svgToPng } from "./png.ts";
import { metricsLines } from "./testing.ts";

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const lineMarks = (svg: string) => (svg.match(/class="mark-line role-mark/g) ?? []).length;

describe("parseMetrics", () => {
  it("sorts steps, evals and samples; skips a cut last line; a repeated step keeps its last line", () => {
    const text = `${metricsLines(3, 2, true)}{"step":3,"loss":9}\n{"step":4,"lo`;
    const m = parseMetrics(text);
    expect(m.steps.map((s) => s.step)).toEqual([1, 2, 3]);
    expect(m.steps[2]!.loss).toBe(9);
    expect(m.steps[0]).toMatchObject({ lr: 7.5e-4, tokens: 950, gradNorm: 1.5 });
    expect(m.evals).toEqual([{ step: 2, evalLoss: 3.2 - Math.log(2) / 3 }]);
    expect(m.samples).toHaveLength(1);
    expect(m.probes).toEqual([]);
  });

  it("reads probe recall from eval lines and from lines of its own", () => {
    const m = parseMetrics('{"step":2,"evalLoss":1.5,"probeRecall":0.25}\n{"step":4,"probeRecall":0.75}\n');
    expect(m.evals).toEqual([{ step: 2, evalLoss: 1.5 }]);
    expect(m.probes).toEqual([
      { step: 2, recall: 0.25 },
      { step: 4, recall: 0.75 },
    ]);
  });
});

describe("charts", () => {
  const m = parseMetrics(metricsLines(30, 10));

  it("the loss chart draws the train and eval curves with axis titles and a legend", async () => {
    const svg = await lossCurveSvg(m);
    expect(svg.startsWith("<svg")).toBe(true);
    expect(lineMarks(svg)).toBe(2);
    // The train curve is one path through all 30 points (M + 29 L).
    const paths = [...svg.matchAll(/<path[^>]*d="(M[^"]+)"[^>]*stroke="#4c78a8"/g)].map((p) => p[1]!);
    expect(paths.some((d) => (d.match(/L/g) ?? []).length === 29)).toBe(true);
    for (const text of [">step<", ">loss<", ">Loss<", "train loss", "eval loss"]) expect(svg).toContain(text);
  });

  it("without eval lines the loss chart has the train curve only", async () => {
    const svg = await lossCurveSvg(parseMetrics(metricsLines(5)));
    expect(lineMarks(svg)).toBe(1);
    expect(svg).not.toContain("eval loss");
  });

  it("learning rate and throughput charts have their curves and titles", async () => {
    const lr = await learningRateSvg(m);
    expect(lineMarks(lr)).toBe(1);
    expect(lr).toContain(">learning rate<");
    const tp = await throughputSvg(m);
    expect(lineMarks(tp)).toBe(2); // per step and the moving mean
    expect(tp).toContain(">tokens/s<");
  });

  it("probe recall is drawn as a share from 0 to 100%", async () => {
    const svg = await probeRecallSvg(
      parseMetrics('{"step":2,"probeRecall":0.25}\n{"step":4,"probeRecall":0.75}\n'),
    );
    expect(lineMarks(svg)).toBe(1);
    for (const text of [">probe recall<", ">0%<", ">100%<"]) expect(svg).toContain(text);
    expect(await probeRecallSvg(parseMetrics(""))).toContain("no probe evaluation logged");
  });

  it("one step is drawn as a point; no steps gives a titled placeholder", async () => {
    const one = await lossCurveSvg(parseMetrics(metricsLines(1)));
    expect(one).toContain("mark-symbol");
    const none = await lossCurveSvg(parseMetrics(""));
    expect(none).toContain("no steps logged yet");
    expect(await throughputSvg(parseMetrics(""))).toContain("no timed steps logged yet");
  });
});

describe("svgToPng", () => {
  it("renders PNG bytes with system fonts, and without any font", async () => {
    const svg = await lossCurveSvg(parseMetrics(metricsLines(8, 4)));
    for (const systemFonts of [true, false]) {
      const png = await svgToPng(svg, { systemFonts });
      expect([...png.subarray(0, 8)]).toEqual(PNG_SIGNATURE);
      expect(png.length).toBeGreaterThan(1000);
    }
  });

  it("stripText removes labels but keeps the marks", async () => {
    const svg = await lossCurveSvg(parseMetrics(metricsLines(8, 4)));
    const bare = stripText(svg);
    expect(bare).not.toContain("<text");
    expect(lineMarks(bare)).toBe(2);
    const png = await svgToPng(bare, { systemFonts: false });
    expect([...png.subarray(0, 8)]).toEqual(PNG_SIGNATURE);
  });
});
