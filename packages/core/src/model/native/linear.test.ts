import { describe, expect, it } from "vitest";
import { dequantizeNF4, quantizeNF4 } from "../adapters/nf4.ts";
import { nativeAddon } from "./load.ts";
import { halfBitsValue, matmulBt, maxRelDiff, nativeSuite, rand } from "./testing.ts";
import type { NativeAddon, NativeWeight } from "./types.ts";

const { skip, title } = await nativeSuite("native linear on stored dtypes");
const addon = (): NativeAddon => nativeAddon()!;

/** The weight in each storage dtype, with the float32 values it stands for. */
function storedWeights(values: Float32Array): { name: string; w: NativeWeight; exact: Float32Array }[] {
  const out: { name: string; w: NativeWeight; exact: Float32Array }[] = [
    { name: "f32", w: { dtype: "f32", data: values }, exact: values },
  ];
  for (const dtype of ["bf16", "f16"] as const) {
    const data = new Uint16Array(values.length);
    addon().fromFloat32(values, dtype, data);
    out.push({
      name: dtype,
      w: { dtype, data },
      exact: Float32Array.from(data, (b) => halfBitsValue(b, dtype)),
    });
  }
  const dq = quantizeNF4(values, { blockSize: 64, doubleQuant: true });
  out.push({ name: "nf4 (double-quantized)", w: { dtype: "nf4", ...dq }, exact: dequantizeNF4(dq) });
  const plain = quantizeNF4(values, { blockSize: 32, doubleQuant: false });
  out.push({ name: "nf4 (float absmax)", w: { dtype: "nf4", ...plain }, exact: dequantizeNF4(plain) });
  return out;
}

/** dx[T,K] = dy[T,N] @ w[N,K] in float64. */
function matmul(dy: ArrayLike<number>, w: ArrayLike<number>, T: number, N: number, K: number): Float64Array {
  const dx = new Float64Array(T * K);
  for (let t = 0; t < T; t++)
    for (let n = 0; n < N; n++) {
      const g = dy[t * N + n]!;
      for (let k = 0; k < K; k++) dx[t * K + k]! += g * w[n * K + k]!;
    }
  return dx;
}

describe.skipIf(skip)(title, () => {
  // N spans several row tiles (and a ragged last one); K several column tiles of the backward.
  const shapes = [
    { T: 7, N: 300, K: 72 },
    { T: 33, N: 40, K: 530 },
    { T: 1, N: 5, K: 3 },
  ];

  it("linearForward: y = x W^T for W in f32, bf16, f16 and NF4, and y += with accumulate", () => {
    for (const [i, { T, N, K }] of shapes.entries()) {
      const x = rand(T * K, 10 + i);
      for (const { name, w, exact } of storedWeights(rand(N * K, 20 + i, 0.5))) {
        const want = matmulBt(x, exact, T, N, K);
        const y = new Float32Array(T * N).fill(Number.NaN);
        addon().linearForward(x, w, y, T, N, K, false);
        expect(maxRelDiff(y, want), `${name} ${T}x${N}x${K}`).toBeLessThan(1e-5);
        const base = rand(T * N, 30 + i);
        const acc = Float32Array.from(base);
        addon().linearForward(x, w, acc, T, N, K, true);
        expect(
          maxRelDiff(
            acc,
            want.map((v, j) => v + base[j]!),
          ),
          `${name} accumulate`,
        ).toBeLessThan(1e-5);
      }
    }
  });

  it("linearBackwardInput: dx = dy W for W in f32, bf16, f16 and NF4, and dx += with accumulate", () => {
    for (const [i, { T, N, K }] of shapes.entries()) {
      const dy = rand(T * N, 40 + i);
      for (const { name, w, exact } of storedWeights(rand(N * K, 50 + i, 0.5))) {
        const want = matmul(dy, exact, T, N, K);
        const dx = new Float32Array(T * K).fill(Number.NaN);
        addon().linearBackwardInput(dy, w, dx, T, N, K, false);
        expect(maxRelDiff(dx, want), `${name} ${T}x${N}x${K}`).toBeLessThan(1e-5);
        const base = rand(T * K, 60 + i);
        const acc = Float32Array.from(base);
        addon().linearBackwardInput(dy, w, acc, T, N, K, true);
        expect(
          maxRelDiff(
            acc,
            want.map((v, j) => v + base[j]!),
          ),
          `${name} accumulate`,
        ).toBeLessThan(1e-5);
      }
    }
  });

  it("linearBackwardWeight: dW = dy^T x, and dW += with accumulate", () => {
    const { T, N, K } = { T: 19, N: 23, K: 45 };
    const dy = rand(T * N, 70);
    const x = rand(T * K, 71);
    const dyT = new Float64Array(N * T);
    for (let t = 0; t < T; t++) for (let n = 0; n < N; n++) dyT[n * T + t] = dy[t * N + n]!;
    const xT = new Float64Array(K * T);
    for (let t = 0; t < T; t++) for (let k = 0; k < K; k++) xT[k * T + t] = x[t * K + k]!;
    const want = matmulBt(dyT, xT, N, K, T);
    const dW = rand(N * K, 72);
    const base = Float32Array.from(dW);
    addon().linearBackwardWeight(dy, x, dW, T, N, K, true);
    expect(
      maxRelDiff(
        dW,
        want.map((v, j) => v + base[j]!),
      ),
    ).toBeLessThan(1e-5);
    addon().linearBackwardWeight(dy, x, dW, T, N, K, false);
    expect(maxRelDiff(dW, want)).toBeLessThan(1e-5);
  });

  it("sgemmEx: alpha, beta and leading dimensions (a sub-block of a wider matrix)", () => {
    // c[2:5, 1:4] = 0.5 * a^T b + 2 c, with a [K=4, M=3] inside a [4, 6], b [4, 3] inside a [4, 5].
    const a = rand(4 * 6, 80);
    const b = rand(4 * 5, 81);
    const c = rand(6 * 7, 82);
    const want = Float64Array.from(c);
    for (let m = 0; m < 3; m++)
      for (let n = 0; n < 3; n++) {
        let s = 0;
        for (let k = 0; k < 4; k++) s += a[k * 6 + m]! * b[k * 5 + n]!;
        want[(2 + m) * 7 + 1 + n] = 0.5 * s + 2 * c[(2 + m) * 7 + 1 + n]!;
      }
    addon().sgemmEx(a, b, c.subarray(2 * 7 + 1), 3, 3, 4, true, false, 0.5, 2, 6, 5, 7);
    expect(maxRelDiff(c, want)).toBeLessThan(1e-6);
  });

  it("rejects short arrays and bad sizes with a RangeError naming the argument", () => {
    const w: NativeWeight = { dtype: "bf16", data: new Uint16Array(12) };
    const f = (n: number) => new Float32Array(n);
    expect(() => addon().linearForward(f(8), w, f(6), 2, 3, 4, false)).not.toThrow();
    expect(() => addon().linearForward(f(7), w, f(6), 2, 3, 4, false)).toThrow(/x has 7 values, needs 8/);
    expect(() => addon().linearForward(f(8), w, f(5), 2, 3, 4, false)).toThrow(/y has 5 values, needs 6/);
    expect(() => addon().linearForward(f(10), w, f(6), 2, 3, 5, false)).toThrow(
      /w\.data has 12 values, needs 15/,
    );
    expect(() => addon().linearBackwardInput(f(6), w, f(7), 2, 3, 4, false)).toThrow(
      /dx has 7 values, needs 8/,
    );
    expect(() => addon().linearForward(f(8), w, f(6), 0, 3, 4, false)).toThrow(RangeError);
    const nf4 = { dtype: "nf4", codes: new Uint8Array(6), blockSize: 64, absmax: null } as NativeWeight;
    expect(() => addon().linearForward(f(8), nf4, f(6), 2, 3, 4, false)).toThrow(
      /absmaxCodes and absmaxScales/,
    );
    expect(() => addon().sgemmEx(f(6), f(6), f(3), 2, 2, 3, false, false, 1, 0, 3, 2, 2)).toThrow(
      /c has 3 values/,
    );
    expect(() => addon().sgemmEx(f(6), f(6), f(4), 2, 2, 3, false, false, 1, 0, 2, 2, 2)).toThrow(/lda/);
  });
});
