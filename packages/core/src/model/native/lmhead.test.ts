import { describe, expect, it } from "vitest";
import { nativeAddon } from "./load.ts";
import { halfBitsValue, matmulBt, maxRelDiff, nativeSuite, rand } from "./testing.ts";
import type { NativeAddon, NativeWeight } from "./types.ts";

const { skip, title } = await nativeSuite("native fused lm-head cross-entropy");
const addon = (): NativeAddon => nativeAddon()!;
const IGNORE = -100;

/** Summed loss, count, dh and dW of gradScale * sum over trained rows of CE(h W^T), in float64. */
function reference(
  h: Float32Array,
  w: ArrayLike<number>,
  targets: Int32Array,
  V: number,
  d: number,
  gs: number,
  softcap = 0,
) {
  const T = targets.length;
  const raw = matmulBt(h, w, T, V, d);
  const logits = softcap > 0 ? raw.map((z) => softcap * Math.tanh(z / softcap)) : raw;
  const dh = new Float64Array(T * d);
  const dW = new Float64Array(V * d);
  let loss = 0;
  let count = 0;
  for (let t = 0; t < T; t++) {
    const y = targets[t]!;
    if (y === IGNORE) continue;
    count++;
    const z = logits.subarray(t * V, (t + 1) * V);
    const mx = Math.max(...z);
    let sum = 0;
    for (const v of z) sum += Math.exp(v - mx);
    const lse = mx + Math.log(sum);
    loss += lse - z[y]!;
    for (let j = 0; j < V; j++) {
      const slope = softcap > 0 ? 1 - (z[j]! / softcap) ** 2 : 1;
      const g = gs * (Math.exp(z[j]! - lse) - (j === y ? 1 : 0)) * slope;
      for (let c = 0; c < d; c++) {
        dh[t * d + c]! += g * w[j * d + c]!;
        dW[j * d + c]! += g * h[t * d + c]!;
      }
    }
  }
  return { loss, count, dh, dW };
}

function targetsFor(T: number, V: number, seed: number, ignoreEvery: number): Int32Array {
  const r = rand(T, seed);
  return Int32Array.from(r, (x, t) => (t % ignoreEvery === 1 ? IGNORE : Math.floor((x + 1) * 0.5 * V) % V));
}

describe.skipIf(skip)(title, () => {
  it("f32 head: loss, count, dh and dW, ignored rows with a zero gradient", () => {
    const [T, V, d] = [23, 70, 16];
    const h = rand(T * d, 1);
    const w = rand(V * d, 2, 0.5);
    const targets = targetsFor(T, V, 3, 4);
    const ref = reference(h, w, targets, V, d, 0.25);
    const dh = new Float32Array(T * d).fill(Number.NaN);
    const dW = new Float32Array(V * d);
    const r = addon().lmHeadCrossEntropy(h, { dtype: "f32", data: w }, targets, dh, dW, T, V, d, 0.25, false);
    expect(r.count).toBe(ref.count);
    expect(r.count).toBeLessThan(T);
    expect(Math.abs(r.loss - ref.loss) / ref.loss).toBeLessThan(1e-6);
    expect(maxRelDiff(dh, ref.dh)).toBeLessThan(1e-5);
    expect(maxRelDiff(dW, ref.dW)).toBeLessThan(1e-5);
    expect(Array.from(dh.subarray(d, 2 * d))).toEqual(new Array(d).fill(0));
  });

  it("final-logit soft-capping: the loss of the capped logits and the gradient through the cap", () => {
    const [T, V, d] = [11, 50, 8];
    const h = rand(T * d, 7, 2);
    const w = rand(V * d, 8, 2);
    const targets = targetsFor(T, V, 9, 5);
    const ref = reference(h, w, targets, V, d, 0.5, 3);
    const dh = new Float32Array(T * d);
    const dW = new Float32Array(V * d);
    const head = { dtype: "f32" as const, data: w };
    const r = addon().lmHeadCrossEntropy(h, head, targets, dh, dW, T, V, d, 0.5, false, null, 3);
    expect(Math.abs(r.loss - ref.loss) / ref.loss).toBeLessThan(1e-6);
    expect(maxRelDiff(dh, ref.dh)).toBeLessThan(1e-5);
    expect(maxRelDiff(dW, ref.dW)).toBeLessThan(1e-5);
    expect(() =>
      addon().lmHeadCrossEntropy(h, head, targets, null, null, T, V, d, 1, false, null, -1),
    ).toThrow(/softcap >= 0/);
  });

  it("bf16 and f16 heads: the gradient of the rounded head, dh and dW accumulated", () => {
    const [T, V, d] = [9, 300, 24];
    const h = rand(T * d, 4);
    const values = rand(V * d, 5, 0.5);
    const targets = targetsFor(T, V, 6, 3);
    for (const dtype of ["bf16", "f16"] as const) {
      const data = new Uint16Array(values.length);
      addon().fromFloat32(values, dtype, data);
      const exact = Float64Array.from(data, (b) => halfBitsValue(b, dtype));
      const ref = reference(h, exact, targets, V, d, 1);
      const baseH = rand(T * d, 7);
      const baseW = rand(V * d, 8);
      const dh = Float32Array.from(baseH);
      const dW = Float32Array.from(baseW);
      const w: NativeWeight = { dtype, data };
      const r = addon().lmHeadCrossEntropy(h, w, targets, dh, dW, T, V, d, 1, true);
      expect(Math.abs(r.loss - ref.loss) / ref.loss, dtype).toBeLessThan(1e-6);
      expect(
        maxRelDiff(
          dh,
          ref.dh.map((v, i) => v + baseH[i]!),
        ),
        dtype,
      ).toBeLessThan(1e-5);
      expect(
        maxRelDiff(
          dW,
          ref.dW.map((v, i) => v + baseW[i]!),
        ),
        dtype,
      ).toBeLessThan(1e-5);
    }
  });

  it("more trained rows than one chunk, and loss only without gradients", () => {
    const [T, V, d] = [600, 40, 8];
    const h = rand(T * d, 9);
    const w = rand(V * d, 10);
    const targets = targetsFor(T, V, 11, 5);
    const ref = reference(h, w, targets, V, d, 0.5);
    const dh = new Float32Array(T * d);
    const r = addon().lmHeadCrossEntropy(
      h,
      { dtype: "f32", data: w },
      targets,
      dh,
      null,
      T,
      V,
      d,
      0.5,
      false,
    );
    expect(r.count).toBe(ref.count);
    expect(r.count).toBeGreaterThan(256);
    expect(Math.abs(r.loss - ref.loss) / ref.loss).toBeLessThan(1e-6);
    expect(maxRelDiff(dh, ref.dh)).toBeLessThan(1e-5);
    const only = addon().lmHeadCrossEntropy(
      h,
      { dtype: "f32", data: w },
      targets,
      null,
      null,
      T,
      V,
      d,
      1,
      false,
    );
    expect(only.loss).toBeCloseTo(r.loss, 6);
  });

  it("trainable rows of a frozen head: read from rows.data, their gradient into rows.grad", () => {
    const [T, V, d] = [11, 300, 16];
    const h = rand(T * d, 14);
    const values = rand(V * d, 15, 0.5);
    const targets = targetsFor(T, V, 16, 4);
    targets[0] = 257;
    targets[2] = 3;
    const ids = [257, 3, 120];
    const data = rand(ids.length * d, 17, 0.5);
    const rowOf = new Int32Array(V).fill(-1);
    ids.forEach((id, k) => {
      rowOf[id] = k;
    });
    for (const dtype of ["f32", "bf16"] as const) {
      const bits = new Uint16Array(values.length);
      addon().fromFloat32(values, "bf16", bits);
      const w: NativeWeight = dtype === "f32" ? { dtype, data: values } : { dtype, data: bits };
      const exact =
        dtype === "f32"
          ? Float64Array.from(values)
          : Float64Array.from(bits, (b) => halfBitsValue(b, "bf16"));
      ids.forEach((id, k) => {
        for (let j = 0; j < d; j++) exact[id * d + j] = data[k * d + j]!;
      });
      const ref = reference(h, exact, targets, V, d, 0.5);
      const grad = new Float32Array(ids.length * d);
      const dh = new Float32Array(T * d);
      const r = addon().lmHeadCrossEntropy(h, w, targets, dh, null, T, V, d, 0.5, false, {
        rowOf,
        data,
        grad,
      });
      expect(Math.abs(r.loss - ref.loss) / ref.loss, dtype).toBeLessThan(1e-6);
      expect(maxRelDiff(dh, ref.dh), dtype).toBeLessThan(1e-5);
      const wantGrad = new Float64Array(ids.length * d);
      ids.forEach((id, k) => {
        wantGrad.set(ref.dW.subarray(id * d, (id + 1) * d), k * d);
      });
      expect(maxRelDiff(grad, wantGrad), dtype).toBeLessThan(1e-5);
    }
    rowOf[5] = 0;
    expect(() =>
      addon().lmHeadCrossEntropy(h, { dtype: "f32", data: values }, targets, null, null, T, V, d, 1, false, {
        rowOf,
        data,
      }),
    ).toThrow(/rows\.rowOf\[257\] = 0 is used twice/);
  });

  it("all rows ignored: zero loss, zero count, dh zeroed", () => {
    const dh = new Float32Array(8).fill(3);
    const r = addon().lmHeadCrossEntropy(
      rand(8, 12),
      { dtype: "f32", data: rand(12, 13) },
      Int32Array.from([IGNORE, IGNORE]),
      dh,
      null,
      2,
      3,
      4,
      1,
      false,
    );
    expect(r).toEqual({ loss: 0, count: 0 });
    expect(Array.from(dh)).toEqual(new Array(8).fill(0));
  });

  it("rejects a target outside [0, V) that is not -100, and short arrays", () => {
    const w: NativeWeight = { dtype: "bf16", data: new Uint16Array(12) };
    const f = (n: number) => new Float32Array(n);
    expect(() =>
      addon().lmHeadCrossEntropy(f(8), w, Int32Array.from([0, 3]), null, null, 2, 3, 4, 1, false),
    ).toThrow(/targets\[1\] = 3 is outside \[0, 3\) and not -100/);
    expect(() =>
      addon().lmHeadCrossEntropy(f(8), w, Int32Array.from([0, -1]), null, null, 2, 3, 4, 1, false),
    ).toThrow(RangeError);
    expect(() =>
      addon().lmHeadCrossEntropy(f(8), w, Int32Array.from([0, 1]), f(7), null, 2, 3, 4, 1, false),
    ).toThrow(/dh has 7 values, needs 8/);
    expect(() =>
      addon().lmHeadCrossEntropy(f(8), w, Int32Array.from([0, 1]), null, f(11), 2, 3, 4, 1, false),
    ).toThrow(/dW has 11 values, needs 12/);
  });
});
