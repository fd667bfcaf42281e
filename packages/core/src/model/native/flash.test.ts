import { describe, expect, it } from "vitest";
import { attentionMask, packRows, padRows, type TokenBatch } from "../batch.ts";
import { nativeAddon } from "./load.ts";
import { maxRelDiff, nativeSuite, rand } from "./testing.ts";
import type { NativeAddon } from "./types.ts";

const { skip, title } = await nativeSuite("native flash attention");
const addon = (): NativeAddon => nativeAddon()!;

interface Dims {
  B: number;
  S: number;
  K: number;
  H: number;
  KV: number;
  hd: number;
}

function inputs(d: Dims, seed: number) {
  const { B, S, K, H, KV, hd } = d;
  return {
    q: rand(B * S * H * hd, seed, 2),
    k: rand(B * K * KV * hd, seed + 1, 2),
    v: rand(B * K * KV * hd, seed + 2),
    dout: rand(B * S * H * hd, seed + 3),
  };
}

/** out and lse [B, H, S] in float64 from the additive mask (batch.ts's rule, -1e9 = hidden). */
function reference(d: Dims, x: ReturnType<typeof inputs>, mask: Float32Array, scale: number) {
  const { B, S, K, H, KV, hd } = d;
  const out = new Float64Array(B * S * H * hd);
  const lse = new Float64Array(B * H * S);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const kvh = Math.floor(h / (H / KV));
      for (let s = 0; s < S; s++) {
        const scores: number[] = [];
        for (let j = 0; j < K; j++) {
          if (mask[(b * S + s) * K + j]! < -1e8) continue;
          let dot = 0;
          for (let c = 0; c < hd; c++)
            dot += x.q[(b * S + s) * H * hd + h * hd + c]! * x.k[(b * K + j) * KV * hd + kvh * hd + c]!;
          scores.push(j, dot * scale);
        }
        let mx = Number.NEGATIVE_INFINITY;
        for (let i = 1; i < scores.length; i += 2) mx = Math.max(mx, scores[i]!);
        let sum = 0;
        for (let i = 1; i < scores.length; i += 2) sum += Math.exp(scores[i]! - mx);
        lse[(b * H + h) * S + s] = mx + Math.log(sum);
        for (let i = 0; i < scores.length; i += 2) {
          const p = Math.exp(scores[i + 1]! - mx) / sum;
          const j = scores[i]!;
          for (let c = 0; c < hd; c++)
            out[(b * S + s) * H * hd + h * hd + c]! += p * x.v[(b * K + j) * KV * hd + kvh * hd + c]!;
        }
      }
    }
  return { out, lse };
}

/** Flash forward and backward against the float64 reference and the probability-keeping kernels. */
function compare(d: Dims, batch: TokenBatch, prefix: number, seed: number) {
  const { B, S, K, H, KV, hd } = d;
  const scale = 1 / Math.sqrt(hd);
  const x = inputs(d, seed);
  const mask = attentionMask(batch, prefix);
  const segments = batch.segments ?? null;
  const out = new Float32Array(B * S * H * hd).fill(Number.NaN);
  const lse = new Float32Array(B * H * S).fill(Number.NaN);
  addon().flashAttentionForward(x.q, x.k, x.v, segments, out, lse, B, S, K, H, KV, hd, scale);
  const ref = reference(d, x, mask, scale);
  // The probability-keeping kernels (attentionForward/Backward) with the explicit mask.
  const oldOut = new Float32Array(out.length);
  const probs = new Float32Array(B * H * S * K);
  addon().attentionForward(x.q, x.k, x.v, mask, oldOut, probs, B, S, K, H, KV, hd, scale);
  const grads = () => ({
    dq: new Float32Array(B * S * H * hd).fill(Number.NaN),
    dk: new Float32Array(B * K * KV * hd).fill(Number.NaN),
    dv: new Float32Array(B * K * KV * hd).fill(Number.NaN),
  });
  const flash = grads();
  addon().flashAttentionBackward(
    x.q,
    x.k,
    x.v,
    segments,
    out,
    lse,
    x.dout,
    flash.dq,
    flash.dk,
    flash.dv,
    B,
    S,
    K,
    H,
    KV,
    hd,
    scale,
  );
  const old = grads();
  addon().attentionBackward(x.q, x.k, x.v, probs, x.dout, old.dq, old.dk, old.dv, B, S, K, H, KV, hd, scale);
  return {
    out: maxRelDiff(out, ref.out),
    lse: maxRelDiff(lse, ref.lse),
    outVsOld: maxRelDiff(out, oldOut),
    dq: maxRelDiff(flash.dq, old.dq),
    dk: maxRelDiff(flash.dk, old.dk),
    dv: maxRelDiff(flash.dv, old.dv),
  };
}

function expectClose(r: ReturnType<typeof compare>) {
  expect(r.out).toBeLessThan(1e-5);
  expect(r.lse).toBeLessThan(1e-5);
  expect(r.outVsOld).toBeLessThan(1e-5);
  expect(r.dq).toBeLessThan(1e-4);
  expect(r.dk).toBeLessThan(1e-4);
  expect(r.dv).toBeLessThan(1e-4);
}

const seq = (n: number, o: number) => Array.from({ length: n }, (_, i) => i + o);

describe.skipIf(skip)(title, () => {
  it("plain causal, multi-head and grouped-query, over several query and key blocks", () => {
    expectClose(
      compare(
        { B: 2, S: 37, K: 37, H: 4, KV: 4, hd: 16 },
        { batch: 2, seqLen: 37, ids: new Int32Array(74) },
        0,
        1,
      ),
    );
    expectClose(
      compare(
        { B: 1, S: 150, K: 150, H: 6, KV: 2, hd: 8 },
        { batch: 1, seqLen: 150, ids: new Int32Array(150) },
        0,
        3,
      ),
    );
  });

  it("a prefix every real token sees (K > S)", () => {
    const d = { B: 2, S: 70, K: 75, H: 4, KV: 2, hd: 16 };
    expectClose(compare(d, { batch: 2, seqLen: 70, ids: new Int32Array(140) }, 5, 5));
    // A prefix longer than a key block.
    const long = { B: 1, S: 20, K: 100, H: 2, KV: 1, hd: 8 };
    expectClose(compare(long, { batch: 1, seqLen: 20, ids: new Int32Array(20) }, 80, 6));
  });

  it("decoding: one or a few new tokens against a cache of past keys (the prefix)", () => {
    expectClose(
      compare(
        { B: 2, S: 1, K: 130, H: 4, KV: 2, hd: 16 },
        { batch: 2, seqLen: 1, ids: new Int32Array(2) },
        129,
        21,
      ),
    );
    expectClose(
      compare(
        { B: 1, S: 3, K: 70, H: 2, KV: 2, hd: 8 },
        { batch: 1, seqLen: 3, ids: new Int32Array(3) },
        67,
        23,
      ),
    );
  });

  it("padding and packed segments, with a prefix (padding tokens see only themselves)", () => {
    const padded = padRows([seq(90, 1), seq(9, 3), seq(66, 2)]);
    expectClose(compare({ B: 3, S: 90, K: 90, H: 4, KV: 2, hd: 16 }, padded, 0, 7));
    const packed = packRows([
      [seq(20, 1), seq(70, 2), seq(5, 3)],
      [seq(7, 1), seq(41, 5), seq(60, 1)],
    ]);
    const S = packed.seqLen;
    expectClose(compare({ B: 2, S, K: S + 3, H: 3, KV: 3, hd: 8 }, packed, 3, 9));
  });

  it("a segment id that comes back later in the row is still one segment (attentionMask's rule)", () => {
    const segments = Int32Array.from([1, 1, 2, 2, 2, 1, 1, 0, 3, 3, 1, 0]);
    const batch = { batch: 1, seqLen: 12, ids: new Int32Array(12), segments };
    expectClose(compare({ B: 1, S: 12, K: 14, H: 2, KV: 1, hd: 4 }, batch, 2, 11));
  });

  it("gives bitwise the same results on 1 and 2 threads (the one-pass and the two-pass backward)", () => {
    // One (row, kv head) pair: on 2 threads the backward takes its two-pass route.
    const d = { B: 1, S: 150, K: 154, H: 3, KV: 1, hd: 8 };
    const { B, S, K, H, KV, hd } = d;
    const x = inputs(d, 13);
    const segments = packRows([[seq(60, 1), seq(90, 1)]]).segments!;
    const run = () => {
      const out = new Float32Array(B * S * H * hd);
      const lse = new Float32Array(B * H * S);
      const dq = new Float32Array(out.length);
      const dk = new Float32Array(B * K * KV * hd);
      const dv = new Float32Array(dk.length);
      addon().flashAttentionForward(x.q, x.k, x.v, segments, out, lse, B, S, K, H, KV, hd, 0.3);
      addon().flashAttentionBackward(
        x.q,
        x.k,
        x.v,
        segments,
        out,
        lse,
        x.dout,
        dq,
        dk,
        dv,
        B,
        S,
        K,
        H,
        KV,
        hd,
        0.3,
      );
      return [out, lse, dq, dk, dv].map((a) => Array.from(a));
    };
    const threads = addon().info().threads;
    addon().setThreads(1);
    const one = run();
    addon().setThreads(2);
    const two = run();
    addon().setThreads(threads);
    expect(two).toEqual(one);
  });

  it("rejects short arrays and bad dims with a RangeError naming them", () => {
    const f = (n: number) => new Float32Array(n);
    const fwd = (lse: number, seg: Int32Array | null, K = 4) =>
      addon().flashAttentionForward(f(32), f(16), f(16), seg, f(32), f(lse), 1, 4, K, 2, 1, 4, 0.5);
    expect(() => fwd(8, null)).not.toThrow();
    expect(() => fwd(7, null)).toThrow(/lse has 7 values, needs 8/);
    expect(() => fwd(8, new Int32Array(3))).toThrow(/segments has 3 values, needs 4/);
    expect(() => fwd(8, null, 3)).toThrow(/K >= S/);
    expect(() =>
      addon().flashAttentionBackward(
        f(32),
        f(16),
        f(16),
        null,
        f(32),
        f(8),
        f(32),
        f(32),
        f(16),
        f(15),
        1,
        4,
        4,
        2,
        1,
        4,
        0.5,
      ),
    ).toThrow(/dv has 15 values, needs 16/);
  });
});
