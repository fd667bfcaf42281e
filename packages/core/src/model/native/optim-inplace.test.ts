import { describe, expect, it } from "vitest";
import { nativeAddon } from "./load.ts";
import { maxRelDiff, nativeSuite, rand } from "./testing.ts";
import type { NativeAddon } from "./types.ts";

const { skip, title } = await nativeSuite("native in-place AdamW and sum of squares");
const addon = (): NativeAddon => nativeAddon()!;

describe.skipIf(skip)(title, () => {
  it("adamwInPlace updates p, m, v in place as AdamW with the gradient scaled (float64 reference)", () => {
    const n = 70001;
    const p = rand(n, 1);
    const g = rand(n, 2);
    const m = rand(n, 3, 0.1);
    const v = Float32Array.from(rand(n, 4, 0.1), Math.abs);
    const [lr, b1, b2, eps, wd, c1, c2, gs] = [1e-3, 0.9, 0.999, 1e-8, 0.01, 0.19, 0.002, 0.5];
    const want = { p: new Float64Array(n), m: new Float64Array(n), v: new Float64Array(n) };
    for (let i = 0; i < n; i++) {
      const gi = g[i]! * gs;
      want.m[i] = b1 * m[i]! + (1 - b1) * gi;
      want.v[i] = b2 * v[i]! + (1 - b2) * gi * gi;
      want.p[i] = p[i]! * (1 - lr * wd) - ((lr / c1) * want.m[i]!) / (Math.sqrt(want.v[i]! / c2) + eps);
    }
    addon().adamwInPlace(p, g, m, v, lr, b1, b2, eps, wd, c1, c2, gs);
    expect(maxRelDiff(m, want.m)).toBeLessThan(1e-6);
    expect(maxRelDiff(v, want.v)).toBeLessThan(1e-6);
    expect(maxRelDiff(p, want.p)).toBeLessThan(1e-6);
  });

  it("adamwInPlace with gradScale 1 equals adamw into new arrays, bitwise", () => {
    const n = 1000;
    const [p, g, m] = [rand(n, 5), rand(n, 6), rand(n, 7, 0.1)];
    const v = Float32Array.from(rand(n, 8, 0.1), Math.abs);
    const out = [new Float32Array(n), new Float32Array(n), new Float32Array(n)] as const;
    addon().adamw(p, g, m, v, ...out, 1e-3, 0.9, 0.95, 1e-6, 0.1, 0.5, 0.1);
    addon().adamwInPlace(p, g, m, v, 1e-3, 0.9, 0.95, 1e-6, 0.1, 0.5, 0.1, 1);
    expect([p, m, v]).toEqual([...out]);
  });

  it("sumSquares sums in double, and adamwInPlace rejects arrays of other lengths", () => {
    const x = rand(100003, 9, 3);
    let want = 0;
    for (const v of x) want += v * v;
    expect(Math.abs(addon().sumSquares(x) - want) / want).toBeLessThan(1e-6);
    expect(addon().sumSquares(new Float32Array(0))).toBe(0);
    const a = (n: number) => new Float32Array(n);
    expect(() => addon().adamwInPlace(a(4), a(4), a(3), a(4), 1, 0.9, 0.9, 1e-8, 0, 1, 1, 1)).toThrow(
      /g, m and v must have p's length 4/,
    );
  });
});
