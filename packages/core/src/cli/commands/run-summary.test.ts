// The closing summary of `sft run`: grammar and the eval line after a resume.
import { describe, expect, it } from "vitest";
import type { RunResult } from "../../train/loop.ts";
import { colorsFor } from "../../util/format.ts";
import { formatRun } from "./run.ts";

const plain = colorsFor({ isTTY: false } as NodeJS.WriteStream);
const result = (over: Partial<RunResult>): RunResult => ({
  steps: 2,
  epochs: 0.5,
  loss: 1.5,
  initialEvalLoss: 2,
  evalLoss: 1,
  probeRecall: null,
  tokens: 100,
  seconds: 1,
  tokensPerSecond: 100,
  peakRssBytes: 1 << 20,
  interrupted: false,
  resumedFrom: null,
  outputDir: "/o",
  metricsFile: "/o/metrics.jsonl",
  checkpoint: null,
  artefacts: [],
  samples: [],
  skipped: 0,
  ...over,
});

describe("the run summary", () => {
  it("says 1 step, 2 steps", () => {
    expect(formatRun(result({ steps: 1 }), plain)).toMatch(/^Trained 1 step \(epoch/);
    expect(formatRun(result({ steps: 2 }), plain)).toMatch(/^Trained 2 steps \(epoch/);
  });

  it("counts micro-batches skipped for a non-finite loss, and says nothing of them when none were", () => {
    expect(formatRun(result({ skipped: 2 }), plain).split("\n")[0]).toMatch(
      /; skipped 2 micro-batches with a non-finite loss \(train\.skipNonFinite\)$/,
    );
    expect(formatRun(result({ skipped: 0 }), plain)).not.toContain("skipped");
  });

  it("after a resume (no start-of-run evaluation) gives the final eval loss alone, no '- ->'", () => {
    const text = formatRun(
      result({ initialEvalLoss: null, evalLoss: 0.2074, resumedFrom: "/o/ckpt" }),
      plain,
    );
    expect(text).toContain("eval loss 0.2074");
    expect(text).not.toContain("- ->");
  });

  it("gives one memory figure, says what it is, and sets the plan's estimate of it beside", () => {
    const text = formatRun(result({ peakRssBytes: 200 * 2 ** 20 }), plain, undefined, 208 * 2 ** 20);
    expect(text).toContain(
      "peak memory 200 MiB (the process's resident maximum, measured; the plan estimated 208 MiB)",
    );
    expect(text.match(/peak/g)).toHaveLength(1);
  });
});
