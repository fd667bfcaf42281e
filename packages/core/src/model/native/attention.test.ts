import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { attentionMask, packRows, padRows } from "../batch.ts";
import { type AttentionDims, nativeAttention } from "./attention.ts";
import { nativeAddon } from "./load.ts";
import { nativeSuite, rand } from "./testing.ts";

const { skip, title } = await nativeSuite("native attention");

/** The explicit mask equal to mask = null: prefix keys visible, own keys causal. */
function causalMask(B: number, S: number, K: number): Float32Array {
  const m = new Float32Array(B * S * K).fill(-1e9);
  for (let b = 0; b < B; b++)
    for (let s = 0; s < S; s++) m.fill(0, (b * S + s) * K, (b * S + s) * K + K - S + s + 1);
  return m;
}

/** The batched tfjs formulation (llama.ts's batchedAttention branch) on [T, heads * hd] layouts. */
function reference(
  q: tf.Tensor2D,
  k: tf.Tensor2D,
  v: tf.Tensor2D,
  mask: Float32Array,
  d: AttentionDims,
  scale: number,
): tf.Tensor2D {
  const { B, S, K, H, KV, hd } = d;
  const G = H / KV;
  const heads = (t: tf.Tensor, n: number) => tf.transpose(tf.reshape(t, [B, n, KV, hd]), [0, 2, 1, 3]);
  const q4 = tf.reshape(tf.transpose(tf.reshape(q, [B, S, H, hd]), [0, 2, 1, 3]), [B, KV, G * S, hd]);
  const k4 = heads(k, K);
  const v4 = heads(v, K);
  const scores = tf.mul(tf.matMul(q4, k4, false, true), scale);
  const probs = tf.softmax(tf.add(tf.reshape(scores, [B, KV, G, S, K]), tf.tensor(mask, [B, 1, 1, S, K])));
  const attn = tf.matMul(tf.reshape(probs, [B, KV, G * S, K]), v4);
  return tf.reshape(tf.transpose(tf.reshape(attn, [B, H, S, hd]), [0, 2, 1, 3]), [B * S, H * hd]);
}

function maxRelDiff(a: tf.Tensor, b: tf.Tensor): number {
  const x = a.dataSync();
  const y = b.dataSync();
  expect(x.length).toBe(y.length);
  let diff = 0;
  let ref = 0;
  for (let i = 0; i < x.length; i++) {
    diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
    ref = Math.max(ref, Math.abs(y[i]!));
  }
  return diff / Math.max(ref, 1e-30);
}

/** Forward and q/k/v gradients of sum(attention * w) for the native op and the reference. */
function compare(d: AttentionDims, mask: Float32Array | null, seed = 1) {
  const { B, S, K, H, KV, hd } = d;
  const scale = 1 / Math.sqrt(hd);
  const explicit = mask ?? causalMask(B, S, K);
  return tf.tidy(() => {
    const q = tf.tensor2d(rand(B * S * H * hd, seed, 2), [B * S, H * hd]);
    const k = tf.tensor2d(rand(B * K * KV * hd, seed + 1, 2), [B * K, KV * hd]);
    const v = tf.tensor2d(rand(B * K * KV * hd, seed + 2), [B * K, KV * hd]);
    const w = tf.tensor2d(rand(B * S * H * hd, seed + 3), [B * S, H * hd]);
    const fwdN = nativeAttention(q, k, v, mask, d, scale, false);
    const fwdR = reference(q, k, v, explicit, d, scale);
    const loss = (f: (a: tf.Tensor2D, b: tf.Tensor2D, c: tf.Tensor2D) => tf.Tensor2D) =>
      tf.grads((a, b, c) => tf.sum(tf.mul(f(a as tf.Tensor2D, b as tf.Tensor2D, c as tf.Tensor2D), w)));
    const gN = loss((a, b, c) => nativeAttention(a, b, c, mask, d, scale, true))([q, k, v]);
    const gR = loss((a, b, c) => reference(a, b, c, explicit, d, scale))([q, k, v]);
    const finite = [fwdN, ...gN].every((t) => (t.dataSync() as Float32Array).every(Number.isFinite));
    return {
      finite,
      out: maxRelDiff(fwdN, fwdR),
      absOut: tf.max(tf.abs(tf.sub(fwdN, fwdR))).dataSync()[0]!,
      dq: maxRelDiff(gN[0]!, gR[0]!),
      dk: maxRelDiff(gN[1]!, gR[1]!),
      dv: maxRelDiff(gN[2]!, gR[2]!),
    };
  });
}

function expectClose(r: ReturnType<typeof compare>) {
  expect(r.finite).toBe(true);
  expect(r.absOut).toBeLessThan(1e-5);
  expect(r.dq).toBeLessThan(1e-4);
  expect(r.dk).toBeLessThan(1e-4);
  expect(r.dv).toBeLessThan(1e-4);
}

describe.skipIf(skip)(title, () => {
  it("multi-head attention (H = KV), explicit causal mask and null", () => {
    const d = { B: 2, S: 37, K: 37, H: 4, KV: 4, hd: 16 };
    const mask = attentionMask({ batch: 2, seqLen: 37, ids: new Int32Array(74) });
    expectClose(compare(d, mask));
    expectClose(compare(d, null, 7));
  });

  it("grouped-query attention (H = 3 * KV), over several row blocks", () => {
    const d = { B: 2, S: 70, K: 70, H: 6, KV: 2, hd: 8 };
    expectClose(compare(d, attentionMask({ batch: 2, seqLen: 70, ids: new Int32Array(140) }), 3));
    expectClose(compare(d, null, 5));
  });

  it("a prefix every query sees (K > S), with its mask and with null", () => {
    const d = { B: 2, S: 33, K: 38, H: 6, KV: 3, hd: 16 };
    expectClose(compare(d, attentionMask({ batch: 2, seqLen: 33, ids: new Int32Array(66) }, 5), 11));
    expectClose(compare(d, null, 13));
  });

  it("padding and packing masks (block-diagonal causal, padding queries see themselves)", () => {
    const seq = (n: number, o: number) => Array.from({ length: n }, (_, i) => i + o);
    const padded = padRows([seq(40, 1), seq(9, 3), seq(25, 2)]);
    const dp = { B: 3, S: 40, K: 40, H: 4, KV: 2, hd: 16 };
    expectClose(compare(dp, attentionMask(padded), 17));
    const packed = packRows([
      [seq(20, 1), seq(30, 2), seq(5, 3)],
      [seq(7, 1), seq(41, 5)],
    ]);
    const dk = { B: 2, S: 55, K: 58, H: 3, KV: 3, hd: 8 };
    expectClose(compare(dk, attentionMask(packed, 3), 19));
  });

  it("mask null equals the explicit causal mask", () => {
    const d = { B: 2, S: 45, K: 50, H: 4, KV: 2, hd: 16 };
    const [a, b] = tf.tidy(() => {
      const q = tf.tensor2d(rand(2 * 45 * 64, 23), [90, 64]);
      const k = tf.tensor2d(rand(2 * 50 * 32, 24), [100, 32]);
      const v = tf.tensor2d(rand(2 * 50 * 32, 25), [100, 32]);
      return [
        nativeAttention(q, k, v, null, d, 0.25, false).dataSync(),
        nativeAttention(q, k, v, causalMask(2, 45, 50), d, 0.25, false).dataSync(),
      ];
    });
    // Not bitwise: the softmax sums run over different lengths (null stops at the diagonal).
    for (let i = 0; i < a!.length; i++) expect(Math.abs(a![i]! - b![i]!)).toBeLessThan(1e-6);
  });

  it("a row masked with -inf everywhere gives zeros, not NaN", () => {
    const d = { B: 1, S: 4, K: 4, H: 1, KV: 1, hd: 4 };
    const mask = causalMask(1, 4, 4);
    mask.fill(Number.NEGATIVE_INFINITY, 8, 12);
    const out = tf.tidy(() =>
      nativeAttention(
        tf.tensor2d(rand(16, 29), [4, 4]),
        tf.tensor2d(rand(16, 30), [4, 4]),
        tf.tensor2d(rand(16, 31), [4, 4]),
        mask,
        d,
        0.5,
        false,
      ).dataSync(),
    );
    expect(Array.from(out.subarray(8, 12))).toEqual([0, 0, 0, 0]);
    expect(Array.from(out).every(Number.isFinite)).toBe(true);
  });

  it("gives the same results on 2 threads as on 1", () => {
    const addon = nativeAddon()!;
    const d = { B: 2, S: 40, K: 44, H: 6, KV: 2, hd: 8 };
    const mask = attentionMask({ batch: 2, seqLen: 40, ids: new Int32Array(80) }, 4);
    const run = () =>
      tf.tidy(() => {
        const q = tf.tensor2d(rand(80 * 48, 51), [80, 48]);
        const k = tf.tensor2d(rand(88 * 16, 52), [88, 16]);
        const v = tf.tensor2d(rand(88 * 16, 53), [88, 16]);
        const g = tf.grads((a, b, c) =>
          tf.sum(
            tf.square(
              nativeAttention(a as tf.Tensor2D, b as tf.Tensor2D, c as tf.Tensor2D, mask, d, 0.3, true),
            ),
          ),
        )([q, k, v]);
        return g.map((t) => Array.from(t.dataSync()));
      });
    const threads = addon.info().threads;
    addon.setThreads(1);
    const one = run();
    addon.setThreads(2);
    const two = run();
    addon.setThreads(threads);
    expect(two).toEqual(one);
  });

  it("keeps no tensors after a forward and backward pass", () => {
    const d = { B: 2, S: 20, K: 20, H: 4, KV: 2, hd: 8 };
    const q = tf.tensor2d(rand(40 * 32, 41), [40, 32]);
    const k = tf.tensor2d(rand(40 * 16, 42), [40, 16]);
    const v = tf.tensor2d(rand(40 * 16, 43), [40, 16]);
    const before = tf.memory().numTensors;
    const g = tf.grads((a, b, c) =>
      tf.sum(nativeAttention(a as tf.Tensor2D, b as tf.Tensor2D, c as tf.Tensor2D, null, d, 0.3, true)),
    )([q, k, v]);
    tf.dispose(g);
    nativeAttention(q, k, v, null, d, 0.3, false).dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([q, k, v]);
  });

  it("rejects shapes that do not match the dims", () => {
    const d = { B: 1, S: 4, K: 4, H: 2, KV: 1, hd: 4 };
    tf.tidy(() => {
      const q = tf.zeros([4, 8]) as tf.Tensor2D;
      const k = tf.zeros([4, 4]) as tf.Tensor2D;
      expect(() => nativeAttention(q, q, q, null, d, 1, false)).toThrow(/do not match/);
      expect(() => nativeAttention(q, k, k, new Float32Array(3), d, 1, false)).toThrow(/mask has 3 values/);
      expect(nativeAttention(q, k, k, null, d, 1, false).shape).toEqual([4, 8]);
    });
  });
});
