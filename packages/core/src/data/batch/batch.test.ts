import { describe, expect, it } from "vitest";
import { rngFor } from "../mix/rng.ts";
import { packRows, planBatches, positionIds, segmentIds } from "./index.ts";

function randomLengths(n: number, seed: number, lo = 20, hi = 600): number[] {
  const r = rngFor(seed, "lengths");
  // Skewed like real chat data: many short, a tail of long ones.
  return Array.from({ length: n }, () => Math.floor(lo + (hi - lo) * r() ** 2));
}

describe("padded batching", () => {
  it("keeps every micro-batch under the token budget and uses every sample once", () => {
    const lengths = randomLengths(3000, 1);
    const s = planBatches(lengths, { mode: "bucket", tokensPerMicroBatch: 4096, seed: 1 });
    if (s.kind !== "padded") throw new Error("padded expected");
    const seen = s.microBatches.flatMap((b) => b.samples).sort((a, b) => a - b);
    expect(seen).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    for (const b of s.microBatches) {
      expect(b.samples.length * b.paddedLength).toBeLessThanOrEqual(4096);
      expect(Math.max(...b.samples.map((i) => lengths[i]!))).toBe(b.paddedLength);
    }
    expect(s.summary.paddingFraction).toBeLessThan(0.03);
    expect(s.summary.tokens).toBe(lengths.reduce((a, b) => a + b, 0));
    expect(s.summary.microBatches).toBe(s.microBatches.length);
  });

  it("puts a sample longer than the budget alone and rounds to a pad multiple", () => {
    const s = planBatches([10, 11, 5000, 12], { mode: "bucket", tokensPerMicroBatch: 64, padMultiple: 8 });
    if (s.kind !== "padded") throw new Error("padded expected");
    const big = s.microBatches.find((b) => b.samples.includes(2))!;
    expect(big).toEqual({ samples: [2], paddedLength: 5000 });
    expect(s.microBatches.every((b) => b.paddedLength % 8 === 0)).toBe(true);
  });

  it("fixed-size micro-batches group similar lengths; order is seeded and changes per epoch", () => {
    const lengths = randomLengths(999, 2);
    const a = planBatches(lengths, { mode: "fixed", microBatchSize: 8, seed: 3, epoch: 0 });
    const b = planBatches(lengths, { mode: "fixed", microBatchSize: 8, seed: 3, epoch: 0 });
    const c = planBatches(lengths, { mode: "fixed", microBatchSize: 8, seed: 3, epoch: 1 });
    expect(a).toEqual(b);
    expect(a.microBatches).not.toEqual(c.microBatches);
    expect(a.summary.microBatches).toBe(125);
    expect(a.summary.paddingFraction).toBeLessThan(0.05);
  });
});

describe("packing", () => {
  it("fills rows with whole samples, none cut, none lost", () => {
    const lengths = randomLengths(2000, 4, 5, 1024);
    const rows = packRows(lengths, 1024);
    const placed = rows.flatMap((r) => r.segments.map((s) => s.sample)).sort((a, b) => a - b);
    expect(placed).toEqual(Array.from({ length: 2000 }, (_, i) => i));
    for (const r of rows) {
      expect(r.used).toBeLessThanOrEqual(1024);
      let at = 0;
      for (const seg of r.segments) {
        expect(seg.start).toBe(at);
        expect(seg.length).toBe(lengths[seg.sample]);
        at += seg.length;
      }
      expect(at).toBe(r.used);
    }
    const total = lengths.reduce((a, b) => a + b, 0);
    // Best-fit decreasing on many small items is close to the lower bound.
    expect(rows.length).toBeLessThanOrEqual(Math.ceil(total / 1024) * 1.03 + 1);
  });

  it("gives segment ids and positions restarting per sequence", () => {
    const rows = packRows([3, 2, 4], 10);
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    expect(row.segments.map((s) => [s.sample, s.start])).toEqual([
      [2, 0],
      [0, 4],
      [1, 7],
    ]);
    expect(Array.from(segmentIds(row, 10))).toEqual([0, 0, 0, 0, 1, 1, 1, 2, 2, -1]);
    expect(Array.from(positionIds(row, 10))).toEqual([0, 1, 2, 3, 0, 1, 2, 0, 1, 0]);
  });

  it("uses exact-fit capacities, including at word boundaries", () => {
    for (const max of [31, 32, 33, 64, 100]) {
      const rows = packRows([max - 1, 1, max - 32 > 0 ? max - 32 : 1, 32 <= max ? 32 : 1], max);
      for (const r of rows) expect(r.used).toBeLessThanOrEqual(max);
    }
    expect(packRows([60, 40, 30, 70], 100).map((r) => r.used)).toEqual([100, 100]);
  });

  it("summarises packed micro-batches and refuses an over-long sample", () => {
    const s = planBatches([100, 100, 50, 50, 200], { mode: "pack", maxLength: 200, rowsPerMicroBatch: 2 });
    expect(s.summary).toMatchObject({ rows: 3, samples: 5, tokens: 500, microBatches: 2 });
    expect(s.summary.paddingFraction).toBeCloseTo(1 - 500 / 600);
    expect(() => packRows([300], 200)).toThrow(/300 tokens/);
  });
});
