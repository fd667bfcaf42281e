import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import type { ModelConfig } from "../config.ts";
import { ropeTables, rotateHalfMatrix } from "../rope.ts";
import { nativeRmsNorm, nativeRope, nativeSoftmaxXent, nativeSwiglu } from "./fused.ts";
import { nativeAddon } from "./load.ts";
import { nativeSuite, rand } from "./testing.ts";

const { skip, title } = await nativeSuite("native fused kernels");

function t2(rows: number, cols: number, seed: number, scale = 1): tf.Tensor2D {
  return tf.tensor2d(rand(rows * cols, seed, scale), [rows, cols]);
}

/** max |a - b| / max(|b|, floor): a relative error over the whole tensor. */
function relErr(a: tf.Tensor, b: tf.Tensor, floor = 1e-6): number {
  const x = a.dataSync();
  const y = b.dataSync();
  expect(a.shape).toEqual(b.shape);
  let diff = 0;
  let mag = floor;
  for (let i = 0; i < y.length; i++) {
    diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
    mag = Math.max(mag, Math.abs(y[i]!));
  }
  return diff / mag;
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  const x = a.dataSync();
  const y = b.dataSync();
  expect(a.shape).toEqual(b.shape);
  let d = 0;
  for (let i = 0; i < y.length; i++) d = Math.max(d, Math.abs(x[i]! - y[i]!));
  return d;
}

/** Gradients of sum(f(inputs) * r) for a fixed random r, through tf.grads. */
function gradsOf(f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[], seed: number): tf.Tensor[] {
  return tf.tidy(() => {
    const probe = f(...inputs);
    const r = tf.tensor(rand(probe.size, seed), probe.shape);
    return tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), r)))(inputs);
  });
}

/** Runs fn with the addon on n threads (the parallel paths), restoring the count after. */
function onThreads<T>(n: number, fn: () => T): T {
  const addon = nativeAddon()!;
  const before = addon.info().threads;
  addon.setThreads(n);
  try {
    return fn();
  } finally {
    addon.setThreads(before);
  }
}

// The tfjs formulations of model/llama.ts.
const eps = 1e-5;
function rmsNormRef(x: tf.Tensor, w: tf.Tensor): tf.Tensor {
  const variance = tf.mean(tf.square(x), -1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(variance, eps))), w);
}

function swigluRef(g: tf.Tensor, u: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(g, tf.sigmoid(g)), u);
}

/** llama.ts's rope: x3 * cos + (x @ rotateHalf) * sin over [T, heads, hd]. */
function ropeRef(x: tf.Tensor, cos: Float32Array, sin: Float32Array, heads: number, hd: number): tf.Tensor {
  const T = x.shape[0]!;
  const rot = tf.tensor2d(rotateHalfMatrix(hd), [hd, hd]);
  const rotated = tf.matMul(tf.reshape(x, [T * heads, hd]) as tf.Tensor2D, rot);
  const a = tf.mul(tf.reshape(x, [T, heads, hd]), tf.tensor3d(cos, [T, 1, hd]));
  const b = tf.mul(tf.reshape(rotated, [T, heads, hd]), tf.tensor3d(sin, [T, 1, hd]));
  return tf.reshape(tf.add(a, b), [T, heads * hd]);
}

function tables(T: number, hd: number, start: number): { cos: Float32Array; sin: Float32Array } {
  const cfg = { headDim: hd, ropeTheta: 10000, ropeScaling: null } as unknown as ModelConfig;
  return ropeTables(
    cfg,
    Array.from({ length: T }, (_, i) => start + ((i * 37) % 301)),
  );
}

describe.skipIf(skip)(title, () => {
  it("RMSNorm: forward and gradients (x and w) match the tfjs formulation, on 1 and 3 threads", () => {
    for (const [rows, dim] of [
      [37, 64],
      [130, 200],
      [5, 1001],
    ] as const) {
      const x = t2(rows, dim, 1 + dim, 2);
      const w = tf.tensor1d(rand(dim, 7 + dim, 1.5));
      const ref = tf.tidy(() => rmsNormRef(x, w));
      const refGrads = gradsOf(rmsNormRef, [x, w], 11);
      for (const threads of [1, 3]) {
        onThreads(threads, () => {
          const y = nativeRmsNorm(x, w, eps, false, false);
          expect(relErr(y, ref)).toBeLessThan(1e-5);
          const yg = tf.tidy(() => nativeRmsNorm(x, w, eps, true, true));
          expect(relErr(yg, ref)).toBeLessThan(1e-5);
          const got = gradsOf(
            (a, b) => nativeRmsNorm(a as tf.Tensor2D, b as tf.Tensor1D, eps, true, true),
            [x, w],
            11,
          );
          expect(relErr(got[0]!, refGrads[0]!)).toBeLessThan(1e-4);
          expect(relErr(got[1]!, refGrads[1]!)).toBeLessThan(1e-4);
          // A frozen weight: the same dx, zeros for w.
          const frozen = gradsOf(
            (a, b) => nativeRmsNorm(a as tf.Tensor2D, b as tf.Tensor1D, eps, true, false),
            [x, w],
            11,
          );
          expect(relErr(frozen[0]!, refGrads[0]!)).toBeLessThan(1e-4);
          expect(Array.from(frozen[1]!.dataSync()).every((v) => v === 0)).toBe(true);
          tf.dispose([y, yg, ...got, ...frozen]);
        });
      }
      tf.dispose([x, w, ref, ...refGrads]);
    }
  });

  it("RMSNorm: the weight gradient is the same for any thread count (deterministic reduction)", () => {
    const x = t2(300, 96, 5);
    const w = tf.tensor1d(rand(96, 6));
    const f = (a: tf.Tensor, b: tf.Tensor) =>
      nativeRmsNorm(a as tf.Tensor2D, b as tf.Tensor1D, eps, true, true);
    const one = onThreads(1, () => gradsOf(f, [x, w], 3));
    const three = onThreads(3, () => gradsOf(f, [x, w], 3));
    expect(Array.from(three[1]!.dataSync())).toEqual(Array.from(one[1]!.dataSync()));
    tf.dispose([x, w, ...one, ...three]);
  });

  it("SwiGLU: forward and gradients match silu(g) * u, large |g| included", () => {
    for (const [rows, cols] of [
      [33, 688],
      [3, 7],
    ] as const) {
      const gData = rand(rows * cols, 21 + cols, 6);
      gData[0] = 120;
      gData[1] = -120;
      gData[2] = 1e4;
      gData[3] = -1e4;
      const g = tf.tensor2d(gData, [rows, cols]);
      const u = t2(rows, cols, 22 + cols, 2);
      const ref = tf.tidy(() => swigluRef(g, u));
      const refGrads = gradsOf(swigluRef, [g, u], 23);
      for (const threads of [1, 3]) {
        onThreads(threads, () => {
          const y = nativeSwiglu(g, u, false);
          expect(relErr(y, ref)).toBeLessThan(1e-5);
          expect(Array.from(y.dataSync()).every(Number.isFinite)).toBe(true);
          const got = gradsOf((a, b) => nativeSwiglu(a as tf.Tensor2D, b as tf.Tensor2D, true), [g, u], 23);
          expect(relErr(got[0]!, refGrads[0]!)).toBeLessThan(1e-4);
          expect(relErr(got[1]!, refGrads[1]!)).toBeLessThan(1e-4);
          expect(Array.from(got[0]!.dataSync()).every(Number.isFinite)).toBe(true);
          tf.dispose([y, ...got]);
        });
      }
      tf.dispose([g, u, ref, ...refGrads]);
    }
  });

  it("RoPE: forward matches llama.ts's rotate-half formulation and the gradient its tf.grads (GQA heads)", () => {
    for (const hd of [32, 64]) {
      const T = 41;
      const { cos, sin } = tables(T, hd, 3);
      for (const heads of [8, 2]) {
        const x = t2(T, heads * hd, hd + heads, 1.5);
        const ref = tf.tidy(() => ropeRef(x, cos, sin, heads, hd));
        const refGrads = gradsOf((a) => ropeRef(a, cos, sin, heads, hd), [x], 31);
        for (const threads of [1, 3]) {
          onThreads(threads, () => {
            const y = nativeRope(x, cos, sin, heads, hd, false);
            expect(maxAbsDiff(y, ref)).toBeLessThan(1e-5);
            const got = gradsOf((a) => nativeRope(a as tf.Tensor2D, cos, sin, heads, hd, true), [x], 31);
            expect(relErr(got[0]!, refGrads[0]!)).toBeLessThan(1e-4);
            tf.dispose([y, ...got]);
          });
        }
        tf.dispose([x, ref, ...refGrads]);
      }
    }
  });

  it("RoPE: rejects tables of the wrong length", () => {
    const x = t2(4, 64, 1);
    const { cos, sin } = tables(3, 32, 0);
    expect(() => nativeRope(x, cos, sin, 2, 32, false)).toThrow(/T\*hd/);
    x.dispose();
  });

  it("cross-entropy: loss and softmax - onehot match tfjs, extreme logits and odd V included", () => {
    for (const [rows, V] of [
      [9, 8192],
      [17, 1001],
      [4, 3],
    ] as const) {
      const data = rand(rows * V, V + rows, 8);
      // Row 0: one huge logit; row 1: one tiny logit among large ones; row 2: all equal and large.
      data[5 % V] = 1e4;
      data[V + 1] = -1e4;
      for (let j = 0; j < V; j++) if (j !== 1) data[V + j] = 80 + (j % 5);
      for (let j = 0; j < V; j++) data[2 * V + j] = 1000;
      // Row 3: the most negative float and a masked (-inf) logit, neither the target.
      data[3 * V] = -3e38;
      data[3 * V + 1] = Number.NEGATIVE_INFINITY;
      const logits = tf.tensor2d(data, [rows, V]);
      const targets = Int32Array.from({ length: rows }, (_, i) => (i * 7919 + 3) % V);
      targets[1] = 1; // the tiny logit: a large loss
      targets[3] = V - 1;
      const refLoss = tf.tidy(() => {
        const lse = tf.logSumExp(logits, 1);
        const picked = tf.tensor1d(Array.from(targets, (t, i) => data[i * V + t]!));
        return tf.sub(lse, picked).arraySync() as number[];
      });
      const refG = tf.tidy(() => tf.sub(tf.softmax(logits), tf.oneHot(tf.tensor1d(targets, "int32"), V)));
      const expected = refLoss.reduce((a, b) => a + b, 0);
      for (const threads of [1, 3]) {
        onThreads(threads, () => {
          const { loss, g } = nativeSoftmaxXent(logits, targets, true);
          expect(Math.abs(loss - expected)).toBeLessThan(1e-5 * Math.max(1, Math.abs(expected)));
          expect(maxAbsDiff(g!, refG)).toBeLessThan(1e-5);
          expect(Array.from(g!.dataSync()).every(Number.isFinite)).toBe(true);
          const noGrad = nativeSoftmaxXent(logits, targets, false);
          expect(noGrad.g).toBeNull();
          expect(noGrad.loss).toBe(loss);
          g!.dispose();
        });
      }
      // The logits are left as they were.
      expect(Array.from(logits.dataSync())).toEqual(Array.from(data));
      tf.dispose([logits, refG]);
    }
  });

  it("cross-entropy: rejects a target outside the vocabulary", () => {
    const logits = t2(2, 10, 1);
    expect(() => nativeSoftmaxXent(logits, Int32Array.from([3, 10]), true)).toThrow(/outside/);
    expect(() => nativeSoftmaxXent(logits, Int32Array.from([3]), true)).toThrow(/shape/);
    logits.dispose();
  });

  it("leaves no tensors behind (forward and backward of every op)", () => {
    const x = t2(16, 64, 1);
    const w = tf.tensor1d(rand(64, 2));
    const u = t2(16, 64, 3);
    const { cos, sin } = tables(16, 32, 0);
    const targets = Int32Array.from({ length: 16 }, (_, i) => i);
    const before = tf.memory().numTensors;
    for (const weightGrad of [true, false]) {
      const grads = gradsOf(
        (a, b, c) => {
          const h = nativeRmsNorm(a as tf.Tensor2D, b as tf.Tensor1D, eps, true, weightGrad);
          const r = nativeRope(h, cos, sin, 2, 32, true);
          return nativeSwiglu(r, c as tf.Tensor2D, true);
        },
        [x, w, u],
        5,
      );
      tf.dispose(grads);
    }
    tf.dispose(nativeRmsNorm(x, w, eps, false, false));
    tf.dispose(nativeSwiglu(x, u, false));
    tf.dispose(nativeRope(x, cos, sin, 2, 32, false));
    tf.dispose(nativeSoftmaxXent(x, targets, true).g!);
    nativeSoftmaxXent(x, targets, false);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, w, u]);
  });
});
