// DoRA's forward and gradients against a float64 reference of PEFT's formula: huggingface/peft
// src/peft/tuners/lora/dora.py (DoraLinearLayer.forward) and src/peft/tuners/lora/variants.py
// (DoraLinearVariant.forward: dropout recomputes x_d·Wᵀ), at v0.20.0-47-g5d602fdbf:
//   out = x·Wᵀ + b + (m/n − 1)·(x_d·Wᵀ) + (m/n)·s·(x_d·Aᵀ·Bᵀ),  n = ‖W + s·B·A‖ per row, detached.
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../backend.ts";
import { doraForward } from "./dora.ts";
import { uniformArray } from "./random.ts";

const T = 3;
const IN = 5;
const OUT = 4;
const R = 2;
const S = 1.7;

/** Row-major [rows, cols] float64 from a seed. */
const rand = (n: number, seed: number) => Float64Array.from(uniformArray(n, 1, seed));

interface Case {
  x: Float64Array; // [T, IN]
  w: Float64Array; // [OUT, IN] (HF layout)
  bias: Float64Array; // [OUT]
  a: Float64Array; // [R, IN]
  b: Float64Array; // [OUT, R]
  m: Float64Array; // [OUT]
  mask: Float64Array | null; // [T, IN]
  g: Float64Array; // dL/dout, [T, OUT]
}

/** PEFT's forward and the gradients of sum(out * g), in float64. */
function reference(c: Case) {
  const { x, w, bias, a, b, m, g } = c;
  const mask = c.mask ?? new Float64Array(T * IN).fill(1);
  const xd = x.map((v, i) => v * mask[i]!);
  const norm = new Float64Array(OUT);
  for (let j = 0; j < OUT; j++) {
    let s2 = 0;
    for (let i = 0; i < IN; i++) {
      let ba = 0;
      for (let k = 0; k < R; k++) ba += b[j * R + k]! * a[k * IN + i]!;
      s2 += (w[j * IN + i]! + S * ba) ** 2;
    }
    norm[j] = Math.sqrt(s2);
  }
  const mn = m.map((v, j) => v / norm[j]!);
  const xa = new Float64Array(T * R); // x_d·Aᵀ
  for (let t = 0; t < T; t++)
    for (let k = 0; k < R; k++)
      for (let i = 0; i < IN; i++) xa[t * R + k]! += xd[t * IN + i]! * a[k * IN + i]!;
  const out = new Float64Array(T * OUT);
  const baseD = new Float64Array(T * OUT);
  const lr = new Float64Array(T * OUT);
  for (let t = 0; t < T; t++)
    for (let j = 0; j < OUT; j++) {
      let y = bias[j]!;
      let bd = 0;
      for (let i = 0; i < IN; i++) {
        y += x[t * IN + i]! * w[j * IN + i]!;
        bd += xd[t * IN + i]! * w[j * IN + i]!;
      }
      let l = 0;
      for (let k = 0; k < R; k++) l += xa[t * R + k]! * b[j * R + k]!;
      baseD[t * OUT + j] = bd;
      lr[t * OUT + j] = l;
      out[t * OUT + j] = y + (mn[j]! - 1) * bd + mn[j]! * S * l;
    }
  const dm = new Float64Array(OUT);
  const gl = new Float64Array(T * OUT); // dL/d(lora result) = g·(m/n)·s
  for (let t = 0; t < T; t++)
    for (let j = 0; j < OUT; j++) {
      const gv = g[t * OUT + j]!;
      dm[j]! += (gv * (baseD[t * OUT + j]! + S * lr[t * OUT + j]!)) / norm[j]!;
      gl[t * OUT + j] = gv * mn[j]! * S;
    }
  const dB = new Float64Array(OUT * R);
  for (let j = 0; j < OUT; j++)
    for (let k = 0; k < R; k++)
      for (let t = 0; t < T; t++) dB[j * R + k]! += gl[t * OUT + j]! * xa[t * R + k]!;
  const gxa = new Float64Array(T * R); // dL/d(x_d·Aᵀ)
  for (let t = 0; t < T; t++)
    for (let k = 0; k < R; k++)
      for (let j = 0; j < OUT; j++) gxa[t * R + k]! += gl[t * OUT + j]! * b[j * R + k]!;
  const dA = new Float64Array(R * IN);
  for (let k = 0; k < R; k++)
    for (let i = 0; i < IN; i++)
      for (let t = 0; t < T; t++) dA[k * IN + i]! += gxa[t * R + k]! * xd[t * IN + i]!;
  const dx = new Float64Array(T * IN);
  for (let t = 0; t < T; t++)
    for (let i = 0; i < IN; i++) {
      let direct = 0;
      let viaD = 0;
      for (let j = 0; j < OUT; j++) {
        direct += g[t * OUT + j]! * w[j * IN + i]!;
        viaD += g[t * OUT + j]! * (mn[j]! - 1) * w[j * IN + i]!;
      }
      for (let k = 0; k < R; k++) viaD += gxa[t * R + k]! * a[k * IN + i]!;
      dx[t * IN + i] = direct + mask[t * IN + i]! * viaD;
    }
  return { out, dm, dA, dB, dx };
}

/** The same through doraForward (stored layouts: Wt [in, out], A [in, r], B [r, out]). */
function ours(c: Case) {
  const t2 = (v: Float64Array, r: number, k: number) => tf.tensor2d(Float32Array.from(v), [r, k]);
  const wt = tf.transpose(t2(c.w, OUT, IN)) as tf.Tensor2D;
  const bias = tf.tensor1d(Float32Array.from(c.bias));
  const g = t2(c.g, T, OUT);
  const mask = c.mask ? t2(c.mask, T, IN) : null;
  const at = tf.variable(tf.transpose(t2(c.a, R, IN)));
  const bt = tf.variable(tf.transpose(t2(c.b, OUT, R)));
  const m = tf.variable(tf.tensor1d(Float32Array.from(c.m)));
  const x = tf.variable(t2(c.x, T, IN));
  const run = () =>
    doraForward(x as tf.Tensor as tf.Tensor2D, (xi) => tf.add(tf.matMul(xi, wt), bias) as tf.Tensor2D, bias, {
      a: at as tf.Tensor as tf.Tensor2D,
      b: bt as tf.Tensor as tf.Tensor2D,
      magnitude: m as tf.Tensor as tf.Tensor1D,
      scale: S,
      weight: () => wt,
      mask,
    });
  const out = run().dataSync();
  const { grads } = tf.variableGrads(() => tf.sum(tf.mul(run(), g)) as tf.Scalar, [at, bt, m, x]);
  const get = (v: tf.Variable, transpose: boolean) =>
    (transpose ? tf.transpose(grads[v.name]!) : grads[v.name]!).dataSync();
  return { out, dm: get(m, false), dA: get(at, true), dB: get(bt, true), dx: get(x, false) };
}

function expectClose(got: ArrayLike<number>, want: Float64Array, what: string) {
  expect(got.length, what).toBe(want.length);
  const scale = Math.max(...want.map(Math.abs));
  for (let i = 0; i < want.length; i++)
    expect(Math.abs(got[i]! - want[i]!), `${what}[${i}]`).toBeLessThan(1e-5 * Math.max(1, scale));
}

function makeCase(dropout: boolean): Case {
  const keep = 0.75;
  return {
    x: rand(T * IN, 1),
    w: rand(OUT * IN, 2),
    bias: rand(OUT, 3),
    a: rand(R * IN, 4),
    // B non-zero, so the norm includes s·B·A and its detachment matters for A's and B's gradients.
    b: rand(OUT * R, 5),
    m: rand(OUT, 6).map((v) => 1 + v),
    mask: dropout ? rand(T * IN, 7).map((v) => (v > -0.5 ? 1 / keep : 0)) : null,
    g: rand(T * OUT, 8),
  };
}

beforeAll(async () => {
  await initBackend();
});

describe("DoRA follows PEFT's DoraLinearLayer (float64 reference)", () => {
  for (const dropout of [false, true]) {
    it(`forward and the gradients of m, A, B and x ${dropout ? "with" : "without"} dropout`, () => {
      const c = makeCase(dropout);
      const want = reference(c);
      const got = tf.tidy(() => ours(c));
      expectClose(got.out, want.out, "out");
      expectClose(got.dm, want.dm, "dm");
      expectClose(got.dA, want.dA, "dA");
      expectClose(got.dB, want.dB, "dB");
      expectClose(got.dx, want.dx, "dx");
    });
  }
});
