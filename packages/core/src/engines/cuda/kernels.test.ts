// The CUDA kernels' arithmetic (packages/cuda/src/math.h via its host reference), compiled for the CPU,
// against @sftkit/native's kernels on random inputs: what a GPU run then only has to confirm is the
// kernels' indexing (their self test compares them with this same host reference).
import { describe, expect, it } from "vitest";
import { dequantizeNF4, nf4Table, quantizeNF4 } from "../../model/adapters/nf4.ts";
import { mulberry32 } from "../../util/mulberry32.ts";
import { hostAndNative } from "./testing.ts";

const both = await hostAndNative();
const skip = "reason" in both;
const title = (name: string) => (skip ? `${name} (skipped: ${both.reason})` : name);
const { host, native } = skip ? ({} as never) : both;

function randn(n: number, seed: number, scale = 1): Float32Array {
  const r = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    // Box-Muller
    const u = Math.max(r(), 1e-12);
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  }
  return out;
}

/** max |a - b| / max |b|: the error relative to the tensor's scale. */
function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return Number.isNaN(diff) ? Number.POSITIVE_INFINITY : diff / (scale + 1e-12);
}

describe.skipIf(skip)("CUDA kernel arithmetic on the host vs @sftkit/native", () => {
  it(title("bf16 rounding and widening match native's, NaN and ties included"), () => {
    const x = randn(5000, 1, 10);
    x.set([Number.NaN, Number.POSITIVE_INFINITY, -0, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.4e38], 0);
    const a = new Uint16Array(x.length);
    const b = new Uint16Array(x.length);
    host.bf16(x, a);
    native.fromFloat32(x, "bf16", b);
    expect(Array.from(a.subarray(1))).toEqual(Array.from(b.subarray(1)));
    expect(Number.isNaN(new Float32Array(new Uint32Array([a[0]! << 16]).buffer)[0]!)).toBe(true);
    const wa = new Float32Array(x.length);
    const wb = new Float32Array(x.length);
    host.bf16(a, wa);
    native.toFloat32(a, "bf16", wb);
    expect(Array.from(wa.subarray(1))).toEqual(Array.from(wb.subarray(1)));
  });

  it(title("RMSNorm forward and backward"), () => {
    const rows = 21;
    const dim = 96;
    const x = randn(rows * dim, 2);
    const w = randn(dim, 3);
    const dy = randn(rows * dim, 4);
    const out = () => ({
      y: new Float32Array(rows * dim),
      r: new Float32Array(rows),
      dx: new Float32Array(rows * dim),
      dw: new Float32Array(dim),
    });
    const h = out();
    const n = out();
    host.rmsNormForward(x, w, h.y, h.r, rows, dim, 1e-6);
    native.rmsNormForward(x, w, n.y, n.r, rows, dim, 1e-6);
    host.rmsNormBackward(dy, x, w, h.r, h.dx, h.dw, rows, dim);
    native.rmsNormBackward(dy, x, w, n.r, n.dx, n.dw, rows, dim);
    expect(relError(h.y, n.y)).toBeLessThan(1e-5);
    expect(relError(h.r, n.r)).toBeLessThan(1e-5);
    expect(relError(h.dx, n.dx)).toBeLessThan(1e-5);
    expect(relError(h.dw, n.dw)).toBeLessThan(1e-5);
  });

  it(title("RoPE forward and its inverse (the gradient)"), () => {
    const T = 9;
    const heads = 3;
    const hd = 16;
    const x = randn(T * heads * hd, 5);
    const cos = randn(T * hd, 6);
    const sin = randn(T * hd, 7);
    for (const inverse of [false, true]) {
      const a = new Float32Array(x.length);
      const b = new Float32Array(x.length);
      host.rope(x, cos, sin, a, T, heads, hd, inverse);
      native.rope(x, cos, sin, b, T, heads, hd, inverse);
      expect(relError(a, b), `inverse ${inverse}`).toBeLessThan(1e-6);
    }
  });

  it(title("SwiGLU forward and backward"), () => {
    const n = 3001;
    const g = randn(n, 8, 4);
    const u = randn(n, 9);
    const dy = randn(n, 10);
    const hy = new Float32Array(n);
    const ny = new Float32Array(n);
    host.swigluForward(g, u, hy, n);
    native.swigluForward(g, u, ny, n);
    expect(relError(hy, ny)).toBeLessThan(1e-5);
    const [hg, hu, ng, nu] = [0, 0, 0, 0].map(() => new Float32Array(n)) as [
      Float32Array,
      Float32Array,
      Float32Array,
      Float32Array,
    ];
    host.swigluBackward(dy, g, u, hg, hu, n);
    native.swigluBackward(dy, g, u, ng, nu, n);
    expect(relError(hg, ng)).toBeLessThan(1e-5);
    expect(relError(hu, nu)).toBeLessThan(1e-5);
  });

  // Plain causal; GQA with a prefix of 3 keys, two packed segments and trailing padding.
  for (const masked of [false, true]) {
    it(
      title(`causal GQA attention forward and backward${masked ? " (prefix, packing, padding)" : ""}`),
      () => {
        const [B, S, H, KV, hd] = [2, 20, 4, 2, 16];
        const K = masked ? S + 3 : S;
        const scale = 1 / Math.sqrt(hd);
        const q = randn(B * S * H * hd, 11);
        const k = randn(B * K * KV * hd, 12);
        const v = randn(B * K * KV * hd, 13);
        const dout = randn(B * S * H * hd, 14);
        const seg = masked
          ? Int32Array.from({ length: B * S }, (_, i) => (i % S < 17 ? 1 + Math.floor((i % S) / 9) : 0))
          : null;
        const run = (a: typeof host | typeof native) => {
          const out = new Float32Array(q.length);
          const lse = new Float32Array(B * H * S);
          const dq = new Float32Array(q.length);
          const dk = new Float32Array(k.length);
          const dv = new Float32Array(v.length);
          const fwd = a === host ? host.attentionForward : native.flashAttentionForward;
          const bwd = a === host ? host.attentionBackward : native.flashAttentionBackward;
          fwd(q, k, v, seg, out, lse, B, S, K, H, KV, hd, scale);
          bwd(q, k, v, seg, out, lse, dout, dq, dk, dv, B, S, K, H, KV, hd, scale);
          return { out, lse, dq, dk, dv };
        };
        const h = run(host);
        const n = run(native);
        for (const key of ["out", "lse", "dq", "dk", "dv"] as const)
          expect(relError(h[key], n[key]), key).toBeLessThan(2e-5);
      },
    );
  }

  it(title("cross-entropy loss and gradient (rows with target -100 skipped)"), () => {
    const rows = 7;
    const V = 1000;
    const logits = randn(rows * V, 15, 3);
    const targets = Int32Array.from({ length: rows }, (_, r) => (r === 2 ? -100 : (r * 389) % V));
    const grad = new Float32Array(rows * V);
    const loss = host.crossEntropy(logits, targets, rows, V, 1, grad);
    // Native's crossEntropy takes rows with a target only.
    const keep = [0, 1, 3, 4, 5, 6];
    const kl = new Float32Array(keep.length * V);
    for (const [i, r] of keep.entries()) kl.set(logits.subarray(r * V, (r + 1) * V), i * V);
    const kt = Int32Array.from(keep, (r) => targets[r]!);
    const ng = new Float32Array(kl.length);
    const nloss = native.crossEntropy(kl, kt, keep.length, V, true, ng);
    expect(Math.abs(loss - nloss) / nloss).toBeLessThan(1e-5);
    const hg = new Float32Array(kl.length);
    for (const [i, r] of keep.entries()) hg.set(grad.subarray(r * V, (r + 1) * V), i * V);
    expect(relError(hg, ng)).toBeLessThan(1e-5);
    expect(grad.subarray(2 * V, 3 * V).every((g) => g === 0)).toBe(true);
  });

  it(title("AdamW with a gradient scale (clipping)"), () => {
    const n = 2000;
    const g = randn(n, 16);
    const init = () => ({ p: randn(n, 17), m: randn(n, 18, 0.1), v: randn(n, 19, 0.1).map((x) => x * x) });
    const h = init();
    const nat = init();
    const args = [1e-3, 0.9, 0.999, 1e-8, 0.01, 1 - 0.9 ** 3, 1 - 0.999 ** 3, 0.6] as const;
    host.adamwInPlace(h.p, g, h.m, h.v, ...args);
    native.adamwInPlace(nat.p, g, nat.m, nat.v, ...args);
    expect(relError(h.p, nat.p)).toBeLessThan(1e-6);
    expect(relError(h.m, nat.m)).toBeLessThan(1e-6);
    expect(relError(h.v, nat.v)).toBeLessThan(1e-6);
  });

  it(title("NF4 dequantization: plain absmax (native) and double-quantized (nf4.ts)"), () => {
    const n = 64 * 700;
    const values = randn(n, 20, 0.05);
    const dq = quantizeNF4(values, { blockSize: 64, doubleQuant: true });
    const hd = new Float32Array(n);
    host.nf4Dequantize(dq.codes, null, dq.absmaxCodes, dq.absmaxScales, dq.absmaxOffset, 64, hd);
    expect(relError(hd, dequantizeNF4(dq))).toBeLessThan(1e-6);
    const plain = quantizeNF4(values, { blockSize: 64, doubleQuant: false });
    const hp = new Float32Array(n);
    const np = new Float32Array(n);
    host.nf4Dequantize(plain.codes, plain.absmax, null, null, 0, 64, hp);
    native.nf4Dequantize(plain.codes, plain.absmax!, nf4Table(), np, 64);
    expect(relError(hp, np)).toBeLessThan(1e-7);
  });

  it(title("embedding gather from a bf16 table and scatter-add of its gradient"), () => {
    const [V, dim, T] = [50, 24, 31];
    const table = new Uint16Array(V * dim);
    host.bf16(randn(V * dim, 21), table);
    const ids = Int32Array.from({ length: T }, (_, t) => (t * 7) % V);
    ids[3] = ids[4]!; // a repeated id accumulates
    const ho = new Float32Array(T * dim);
    const no = new Float32Array(T * dim);
    host.embeddingGather(table, ids, ho, V, dim);
    native.embeddingGather({ dtype: "bf16", data: table }, ids, no, V, dim, null);
    expect(Array.from(ho)).toEqual(Array.from(no));
    const dy = randn(T * dim, 22);
    const hd = new Float32Array(V * dim);
    const nd = new Float32Array(V * dim);
    host.embeddingScatterAdd(dy, ids, hd, V, dim);
    native.embeddingScatterAdd(dy, ids, nd, V, dim, null);
    expect(relError(hd, nd)).toBeLessThan(1e-6);
  });
});
