// The fused kernels written for views of the wasm heap work as well on plain JS-allocated typed
// arrays (the native engine's tensors), including views at an offset into a larger buffer.
import { describe, expect, it } from "vitest";
import { nativeAddon } from "./load.ts";
import { maxRelDiff, nativeSuite, rand } from "./testing.ts";
import type { NativeAddon } from "./types.ts";

const { skip, title } = await nativeSuite("native fused kernels on plain typed arrays");
const addon = (): NativeAddon => nativeAddon()!;

/** A view of n values at an offset into a larger buffer, filled from `values`. */
function offsetView(values: Float32Array, offset = 5): Float32Array {
  const buf = new Float32Array(values.length + offset + 3).fill(Number.NaN);
  const view = buf.subarray(offset, offset + values.length);
  view.set(values);
  return view;
}

describe.skipIf(skip)(title, () => {
  it("rmsNormForward on offset views", () => {
    const [rows, dim, eps] = [6, 40, 1e-5];
    const x = offsetView(rand(rows * dim, 1));
    const w = offsetView(rand(dim, 2));
    const y = offsetView(new Float32Array(rows * dim));
    const rstd = offsetView(new Float32Array(rows));
    addon().rmsNormForward(x, w, y, rstd, rows, dim, eps);
    const want = new Float64Array(rows * dim);
    for (let r = 0; r < rows; r++) {
      let ss = 0;
      for (let j = 0; j < dim; j++) ss += x[r * dim + j]! ** 2;
      const s = 1 / Math.sqrt(ss / dim + eps);
      for (let j = 0; j < dim; j++) want[r * dim + j] = x[r * dim + j]! * s * w[j]!;
    }
    expect(maxRelDiff(y, want)).toBeLessThan(1e-6);
    // Nothing written outside the view.
    const whole = new Float32Array(y.buffer);
    expect([...whole.subarray(0, 5), ...whole.subarray(5 + rows * dim)].every(Number.isNaN)).toBe(true);
  });

  it("swigluForward and rope on offset views", () => {
    const n = 77;
    const g = offsetView(rand(n, 3, 3));
    const u = offsetView(rand(n, 4));
    const y = offsetView(new Float32Array(n));
    addon().swigluForward(g, u, y, n);
    expect(
      maxRelDiff(
        y,
        Float64Array.from(g, (v, i) => (v / (1 + Math.exp(-v))) * u[i]!),
      ),
    ).toBeLessThan(1e-6);
    const [T, heads, hd] = [3, 2, 8];
    const x = offsetView(rand(T * heads * hd, 5));
    const cos = offsetView(rand(T * hd, 6));
    const sin = offsetView(rand(T * hd, 7));
    const out = offsetView(new Float32Array(x.length));
    addon().rope(x, cos, sin, out, T, heads, hd, false);
    const want = new Float64Array(x.length);
    for (let t = 0; t < T; t++)
      for (let h = 0; h < heads; h++)
        for (let j = 0; j < hd; j++) {
          const base = (t * heads + h) * hd;
          const rot = j < hd / 2 ? -x[base + j + hd / 2]! : x[base + j - hd / 2]!;
          want[base + j] = x[base + j]! * cos[t * hd + j]! + rot * sin[t * hd + j]!;
        }
    expect(maxRelDiff(out, want)).toBeLessThan(1e-6);
  });
});
