// The trials of a sweep: the grid in order (last axis fastest), a seeded random sample of it, folder names.
import { describe, expect, it } from "vitest";
import { defineSweep, sweepTrials } from "./sweep.ts";

const base = {
  model: { path: "./model" },
  data: { sources: { chat: { path: "chat.jsonl", format: "messages" as const } } },
  method: { kind: "lora" as const, rank: 8 },
};

describe("sweepTrials", () => {
  it("expands the grid, last axis fastest, each trial with its overrides and its own folder", () => {
    const sweep = defineSweep(base, { axes: { "train.learningRate": [1e-4, 3e-4], "method.rank": [8, 16] } });
    expect(sweep.file).toBe(import.meta.filename);
    const trials = sweepTrials(sweep);
    expect(trials.map((t) => t.overrides.map((o) => o.value))).toEqual([
      [1e-4, 8],
      [1e-4, 16],
      [3e-4, 8],
      [3e-4, 16],
    ]);
    expect(trials.map((t) => t.folder)).toEqual([
      "01-method.rank=8,train.learningRate=0.0001",
      "02-method.rank=16,train.learningRate=0.0001",
      "03-method.rank=8,train.learningRate=0.0003",
      "04-method.rank=16,train.learningRate=0.0003",
    ]);
    expect(trials[3]!.overrides[1]!.origin).toBe(`${import.meta.filename} axes["method.rank"][1]`);
  });

  it("draws a seeded random sample of the grid without repeats, the same for the same seed", () => {
    const axes = { "train.learningRate": [1e-4, 2e-4, 3e-4, 4e-4], "method.rank": [4, 8, 16] };
    const pick = (seed: number) =>
      sweepTrials(defineSweep(base, { axes, mode: { random: 5, seed } })).map((t) =>
        JSON.stringify(t.overrides.map((o) => o.value)),
      );
    expect(pick(7)).toEqual(pick(7));
    expect(new Set(pick(7)).size).toBe(5);
    expect(pick(7)).not.toEqual(pick(8));
    expect(sweepTrials(defineSweep(base, { axes, mode: { random: 50 } }))).toHaveLength(12);
  });
});
