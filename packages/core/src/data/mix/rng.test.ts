import { describe, expect, it } from "vitest";
import { drawSource, samplesPerEpoch } from "./mix.ts";
import { deriveSeed, mulberry32, permutation, rngFor } from "./rng.ts";
import { evalCount, splitIndices } from "./split.ts";

describe("rng", () => {
  it("is deterministic per seed and label, different across them", () => {
    const a = Array.from({ length: 5 }, mulberry32(1));
    expect(Array.from({ length: 5 }, mulberry32(1))).toEqual(a);
    expect(Array.from({ length: 5 }, mulberry32(2))).not.toEqual(a);
    const seeds = new Set<number>();
    for (let s = 0; s < 200; s++)
      for (const l of ["split", "draw", "epoch"]) seeds.add(deriveSeed(s, l, "src"));
    expect(seeds.size).toBe(600);
  });
  it("gives roughly uniform values and true permutations", () => {
    const r = rngFor(3, "u");
    const bins = new Array(10).fill(0);
    for (let i = 0; i < 20000; i++) bins[Math.floor(r() * 10)]++;
    for (const b of bins) expect(Math.abs(b - 2000)).toBeLessThan(200);
    const p = permutation(1000, rngFor(1));
    expect([...p].sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });
});

describe("split and draw", () => {
  it("counts eval rows from a fraction or a count", () => {
    expect(evalCount(100, 0.05)).toBe(5);
    expect(evalCount(10, 0.01)).toBe(1);
    expect(evalCount(100, 7)).toBe(7);
    expect(evalCount(100, undefined)).toBe(0);
  });
  it("never puts a row in both halves", () => {
    for (let n = 1; n < 60; n += 7) {
      const s = splitIndices(n, 0.3, 5, "x");
      expect([...s.train, ...s.eval].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
    }
  });
  it("draws the per-epoch target with repetition then without replacement", () => {
    expect(samplesPerEpoch({ name: "x", size: 10, weight: 0.01 })).toBe(1);
    expect(samplesPerEpoch({ name: "x", size: 0, weight: 3 })).toBe(0);
    const d = drawSource({ name: "x", size: 4, samples: 6 }, 0, 1);
    expect(d.slice(0, 4)).toEqual([0, 1, 2, 3]);
    expect(new Set(d.slice(4)).size).toBe(2);
  });
});
