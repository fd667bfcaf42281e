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
    const text = formatRun(result({ peakRssBytes: 200 * 2 ** 20 }), plain, undefined, {
      peak: 208 * 2 ** 20,
      runtime: 160 * 2 ** 20,
      device: { backend: "native", bytes: 2 ** 34, note: "host memory" },
    });
    expect(text).toContain(
      "peak memory 200 MiB (the process's resident maximum, measured; the plan estimated 208 MiB)",
    );
    expect(text.match(/peak/g)).toHaveLength(1);
  });

  it("sets a wasm-heap estimate beside the heap's measured size, not beside the process's", () => {
    const heap = { peak: 100 * 2 ** 20, device: { backend: "wasm", bytes: 2 ** 32, note: "wasm32 heap" } };
    const text = formatRun(
      result({ peakRssBytes: 519 * 2 ** 20, enginePeakBytes: 112 * 2 ** 20 }),
      plain,
      undefined,
      heap,
    );
    expect(text).toContain(
      "peak memory 519 MiB (the process's resident maximum, measured); wasm heap 112 MiB at most, measured; the plan estimated 100 MiB",
    );
    expect(formatRun(result({ peakRssBytes: 519 * 2 ** 20 }), plain, undefined, heap)).toContain(
      "wasm heap not measured; the plan estimated 100 MiB",
    );
  });

  it("compares a cuda plan's buffers (its peak less the CUDA context) with the engine's GPU peak", () => {
    const text = formatRun(
      result({ peakRssBytes: 3 * 2 ** 30, enginePeakBytes: 15 * 2 ** 30 }),
      plain,
      undefined,
      {
        peak: 16 * 2 ** 30,
        runtime: 2 ** 30,
        device: { backend: "cuda", bytes: 80 * 2 ** 30, note: "H200" },
      },
    );
    expect(text).toContain("GPU buffers 15.0 GiB at most, measured; the plan estimated 15.0 GiB");
  });
});
