// The flash kernels' sliding window and attention-logit soft-cap against a float64 forward and
// backward written from the definitions (the window as batch.ts attentionMask draws it).
import { describe, expect, it } from "vitest";
import { attentionMask, packRows, type TokenBatch } from "../batch.ts";
import { nativeAddon } from "./load.ts";
import { maxRelDiff, nativeSuite, rand } from "./testing.ts";
import type { NativeAddon } from "./types.ts";

const { skip, title } = await nativeSuite("native flash attention: sliding window and soft-cap");
const addon = (): NativeAddon => nativeAddon()!;

interface Case {
  B: number;
  S: number;
  K: number;
  H: number;
  KV: number;
  hd: number;
  window: number;
  softcap: number;
}

/** out, lse and the gradients of sum(out * dout) in float64, keys hidden where `mask` is -1e9. */
function reference(c: Case, x: Record<"q" | "k" | "v" | "dout", Float32Array>, mask: Float32Array) {
  const { B, S, K, H, KV, hd, softcap } = c;
  const scale = 1 / Math.sqrt(hd);
  const qi = (b: number, s: number, h: number) => (b * S + s) * H * hd + h * hd;
  const ki = (b: number, j: number, h: number) => (b * K + j) * KV * hd + h * hd;
  const out = new Float64Array(B * S * H * hd);
  const lse = new Float64Array(B * H * S);
  const dq = new Float64Array(out.length);
  const dk = new Float64Array(B * K * KV * hd);
  const dv = new Float64Array(dk.length);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const kvh = Math.floor(h / (H / KV));
      for (let s = 0; s < S; s++) {
        const keys: number[] = [];
        const capped: number[] = [];
        const slope: number[] = [];
        for (let j = 0; j < K; j++) {
          if (mask[(b * S + s) * K + j]! < -1e8) continue;
          let dot = 0;
          for (let e = 0; e < hd; e++) dot += x.q[qi(b, s, h) + e]! * x.k[ki(b, j, kvh) + e]!;
          const t = softcap > 0 ? Math.tanh((dot * scale) / softcap) : 0;
          keys.push(j);
          capped.push(softcap > 0 ? softcap * t : dot * scale);
          slope.push(softcap > 0 ? 1 - t * t : 1);
        }
        const mx = Math.max(...capped);
        const sum = capped.reduce((a, v) => a + Math.exp(v - mx), 0);
        lse[(b * H + h) * S + s] = mx + Math.log(sum);
        const p = capped.map((v) => Math.exp(v - mx) / sum);
        const dp = keys.map((j) => {
          let g = 0;
          for (let e = 0; e < hd; e++) g += x.dout[qi(b, s, h) + e]! * x.v[ki(b, j, kvh) + e]!;
          return g;
        });
        const dot = p.reduce((a, pj, i) => a + pj * dp[i]!, 0);
        keys.forEach((j, i) => {
          const ds = p[i]! * (dp[i]! - dot) * slope[i]! * scale;
          for (let e = 0; e < hd; e++) {
            out[qi(b, s, h) + e]! += p[i]! * x.v[ki(b, j, kvh) + e]!;
            dv[ki(b, j, kvh) + e]! += p[i]! * x.dout[qi(b, s, h) + e]!;
            dq[qi(b, s, h) + e]! += ds * x.k[ki(b, j, kvh) + e]!;
            dk[ki(b, j, kvh) + e]! += ds * x.q[qi(b, s, h) + e]!;
          }
        });
      }
    }
  return { out, lse, dq, dk, dv };
}

function check(c: Case, batch: TokenBatch, seed: number) {
  const { B, S, K, H, KV, hd } = c;
  const x = {
    q: rand(B * S * H * hd, seed, 2),
    k: rand(B * K * KV * hd, seed + 1, 2),
    v: rand(B * K * KV * hd, seed + 2),
    dout: rand(B * S * H * hd, seed + 3),
  };
  const mask = attentionMask(batch, K - S, 0, c.window > 0 ? c.window : null);
  const want = reference(c, x, mask);
  const seg = batch.segments ?? null;
  const out = new Float32Array(B * S * H * hd).fill(Number.NaN);
  const lse = new Float32Array(B * H * S).fill(Number.NaN);
  const scale = 1 / Math.sqrt(hd);
  addon().flashAttentionForward(x.q, x.k, x.v, seg, out, lse, B, S, K, H, KV, hd, scale, c.window, c.softcap);
  const dq = new Float32Array(out.length);
  const dk = new Float32Array(B * K * KV * hd);
  const dv = new Float32Array(dk.length);
  addon().flashAttentionBackward(
    x.q,
    x.k,
    x.v,
    seg,
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
    scale,
    c.window,
    c.softcap,
  );
  expect(maxRelDiff(out, want.out)).toBeLessThan(1e-5);
  expect(maxRelDiff(lse, want.lse)).toBeLessThan(1e-5);
  expect(maxRelDiff(dq, want.dq)).toBeLessThan(1e-4);
  expect(maxRelDiff(dk, want.dk)).toBeLessThan(1e-4);
  expect(maxRelDiff(dv, want.dv)).toBeLessThan(1e-4);
}

const seq = (n: number, o: number) => Array.from({ length: n }, (_, i) => i + o);
const plain = (B: number, S: number): TokenBatch => ({ batch: B, seqLen: S, ids: new Int32Array(B * S) });

describe.skipIf(skip)(title, () => {
  it("a window shorter than the sequence, over several query and key blocks (GQA)", () => {
    check({ B: 2, S: 150, K: 150, H: 4, KV: 2, hd: 8, window: 37, softcap: 0 }, plain(2, 150), 1);
    check({ B: 1, S: 20, K: 20, H: 2, KV: 1, hd: 8, window: 2, softcap: 0 }, plain(1, 20), 2);
  });

  it("a window over a prefix, or a cache of past keys (decoding), and over packed segments", () => {
    check({ B: 1, S: 30, K: 100, H: 2, KV: 1, hd: 8, window: 50, softcap: 0 }, plain(1, 30), 3);
    check({ B: 2, S: 1, K: 140, H: 4, KV: 2, hd: 8, window: 65, softcap: 0 }, plain(2, 1), 4);
    const packed = packRows([
      [seq(20, 1), seq(70, 2), seq(5, 3)],
      [seq(7, 1), seq(41, 5), seq(60, 1)],
    ]);
    const S = packed.seqLen;
    check({ B: 2, S, K: S + 3, H: 3, KV: 3, hd: 8, window: 9, softcap: 0 }, packed, 5);
  });

  it("attention-logit soft-capping, alone and with a window", () => {
    check({ B: 2, S: 70, K: 70, H: 2, KV: 1, hd: 8, window: 0, softcap: 1.5 }, plain(2, 70), 6);
    const packed = packRows([[seq(30, 1), seq(50, 2)]]);
    const S = packed.seqLen;
    check({ B: 1, S, K: S + 2, H: 2, KV: 2, hd: 8, window: 20, softcap: 2 }, packed, 7);
  });

  it("gives bitwise the same results on 1 and 2 threads (the one-pass and the two-pass backward skip the same blocks)", () => {
    // One (row, kv head) pair: on 2 threads the backward takes its two-pass route.
    const [B, S, K, H, KV, hd] = [1, 150, 154, 3, 1, 8];
    const q = rand(B * S * H * hd, 13, 2);
    const k = rand(B * K * KV * hd, 14, 2);
    const v = rand(B * K * KV * hd, 15);
    const dout = rand(B * S * H * hd, 16);
    const segments = packRows([[seq(60, 1), seq(90, 1)]]).segments!;
    const run = () => {
      const out = new Float32Array(B * S * H * hd);
      const lse = new Float32Array(B * H * S);
      const dq = new Float32Array(out.length);
      const dk = new Float32Array(B * K * KV * hd);
      const dv = new Float32Array(dk.length);
      addon().flashAttentionForward(q, k, v, segments, out, lse, B, S, K, H, KV, hd, 0.3, 40, 2);
      addon().flashAttentionBackward(
        q,
        k,
        v,
        segments,
        out,
        lse,
        dout,
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
        40,
        2,
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

  it("rejects a negative window or soft-cap", () => {
    const f = (n: number) => new Float32Array(n);
    const fwd = (w: number, cap: number) =>
      addon().flashAttentionForward(f(32), f(16), f(16), null, f(32), f(8), 1, 4, 4, 2, 1, 4, 0.5, w, cap);
    expect(() => fwd(0, 0)).not.toThrow();
    expect(() => fwd(-1, 0)).toThrow(/window >= 0/);
    expect(() => fwd(2, -1)).toThrow(/softcap >= 0/);
  });
});
