import { describe, expect, it } from "vitest";
import { pissaFactors, pissaToLora } from "./pissa.ts";
import { normalArray } from "./random.ts";
import { exactSvd, randomizedSvd, symmetricEigen } from "./svd.ts";

/** A [rows, cols] matrix with the given singular values and seeded orthonormal factors (Gram-Schmidt). */
function withSpectrum(rows: number, cols: number, sigma: number[], seed: number): Float64Array {
  const orth = (n: number, k: number, s: number) => {
    const q = Float64Array.from(normalArray(n * k, 1, s));
    for (let j = 0; j < k; j++) {
      for (let i = 0; i < j; i++) {
        let d = 0;
        for (let t = 0; t < n; t++) d += q[t * k + i]! * q[t * k + j]!;
        for (let t = 0; t < n; t++) q[t * k + j]! -= d * q[t * k + i]!;
      }
      let nn = 0;
      for (let t = 0; t < n; t++) nn += q[t * k + j]! ** 2;
      for (let t = 0; t < n; t++) q[t * k + j]! /= Math.sqrt(nn);
    }
    return q;
  };
  const k = sigma.length;
  const u = orth(rows, k, seed);
  const v = orth(cols, k, seed + 1);
  const w = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++)
    for (let c = 0; c < cols; c++) {
      let x = 0;
      for (let j = 0; j < k; j++) x += u[i * k + j]! * sigma[j]! * v[c * k + j]!;
      w[i * cols + c] = x;
    }
  return w;
}

const sigma = [9, 7, 5, 3, 2, 1.5, 1, 0.5];

describe("truncated SVD (float64)", () => {
  it("Jacobi: eigenvalues of a symmetric matrix, descending, with orthonormal vectors", () => {
    const a = Float64Array.from([4, 1, 2, 1, 3, 0, 2, 0, 5]);
    const { values, vectors } = symmetricEigen(a, 3);
    expect(values[0]! >= values[1]! && values[1]! >= values[2]!).toBe(true);
    // A v = λ v for each column.
    for (let j = 0; j < 3; j++)
      for (let i = 0; i < 3; i++) {
        let av = 0;
        for (let k = 0; k < 3; k++) av += a[i * 3 + k]! * vectors[k * 3 + j]!;
        expect(av).toBeCloseTo(values[j]! * vectors[i * 3 + j]!, 10);
      }
    // Trace is kept.
    expect(values[0]! + values[1]! + values[2]!).toBeCloseTo(12, 10);
  });

  for (const [rows, cols] of [
    [12, 20],
    [20, 12],
  ] as const) {
    it(`exact and 4-step randomised SVD find the leading singular values of a ${rows}×${cols} matrix`, () => {
      const w = withSpectrum(rows, cols, sigma, 7);
      const exact = exactSvd(w, rows, cols, 3);
      expect([...exact.s].map((x) => +x.toFixed(8))).toEqual([9, 7, 5]);
      const rnd = randomizedSvd(w, rows, cols, 3, 4, 11);
      for (let j = 0; j < 3; j++) expect(Math.abs(rnd.s[j]! - sigma[j]!)).toBeLessThan(1e-2);
      // U Σ Vᵀ of all 8 recovers W exactly.
      const full = exactSvd(w, rows, cols, 8);
      for (let i = 0; i < rows; i++)
        for (let c = 0; c < cols; c++) {
          let x = 0;
          for (let j = 0; j < 8; j++) x += full.u[i * 8 + j]! * full.s[j]! * full.vt[j * cols + c]!;
          expect(Math.abs(x - w[i * cols + c]!)).toBeLessThan(1e-9);
        }
    });
  }
});

describe("PiSSA factors (PEFT's LoraLayer.pissa_init)", () => {
  it("A = sqrt(Σ/s)·Vᵀ, B = U·sqrt(Σ/s); the residual holds the tail; W_res + s·B·A = W", () => {
    const [out, inF, r, scale] = [12, 20, 3, 2];
    const w = withSpectrum(out, inF, sigma, 3);
    const f = pissaFactors(w, out, inF, { rank: r, scale, init: "pissa", seed: 0 });
    // A·Aᵀ = diag(σ/s) (orthogonal rows), and Bᵀ·B the same.
    for (let i = 0; i < r; i++)
      for (let j = 0; j < r; j++) {
        let aa = 0;
        for (let c = 0; c < inF; c++) aa += f.a[i * inF + c]! * f.a[j * inF + c]!;
        let bb = 0;
        for (let o = 0; o < out; o++) bb += f.b[o * r + i]! * f.b[o * r + j]!;
        const want = i === j ? sigma[i]! / scale : 0;
        expect(Math.abs(aa - want)).toBeLessThan(1e-5);
        expect(Math.abs(bb - want)).toBeLessThan(1e-5);
      }
    let res2 = 0;
    for (let i = 0; i < out * inF; i++) res2 += f.residual[i]! ** 2;
    expect(res2).toBeCloseTo(
      sigma.slice(r).reduce((s, x) => s + x * x, 0),
      4,
    );
    for (let o = 0; o < out; o++)
      for (let c = 0; c < inF; c++) {
        let ba = 0;
        for (let j = 0; j < r; j++) ba += f.b[o * r + j]! * f.a[j * inF + c]!;
        expect(Math.abs(f.residual[o * inF + c]! + scale * ba - w[o * inF + c]!)).toBeLessThan(1e-5);
      }
  });

  it("pissa_niter_N draws its sketch from the seed (same seed, same factors)", () => {
    const w = withSpectrum(10, 14, sigma, 5);
    const opts = { rank: 2, scale: 1, init: "pissa_niter_2" as const };
    const a = pissaFactors(w, 10, 14, { ...opts, seed: 1 });
    expect(pissaFactors(w, 10, 14, { ...opts, seed: 1 }).a).toEqual(a.a);
  });

  it("the conversion to LoRA: [B | -B0]·[A ; A0] = B·A - B0·A0", () => {
    const [out, inF, r] = [3, 4, 2];
    const v = (n: number, s: number) => Float32Array.from(normalArray(n, 1, s));
    const m = { a: v(r * inF, 1), b: v(out * r, 2), a0: v(r * inF, 3), b0: v(out * r, 4), out, inF };
    const c = pissaToLora(m, r);
    for (let o = 0; o < out; o++)
      for (let i = 0; i < inF; i++) {
        let got = 0;
        for (let j = 0; j < 2 * r; j++) got += c.b[o * 2 * r + j]! * c.a[j * inF + i]!;
        let want = 0;
        for (let j = 0; j < r; j++)
          want += m.b[o * r + j]! * m.a[j * inF + i]! - m.b0[o * r + j]! * m.a0[j * inF + i]!;
        expect(got).toBeCloseTo(want, 5);
      }
  });
});
