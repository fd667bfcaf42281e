// Attention: causal softmax(q k^T * scale + mask) v over kv-head groups, with P-tuning prefixes
// and a KV cache. The registered kernel (the native tier) works on the [tokens, heads x hd] layout
// the projections produce; the reference transposes to [B, heads, S, hd] and back.
import * as tf from "@tensorflow/tfjs-core";
import { freeing } from "../free.ts";
import { reshapeLean } from "./lean.ts";
import { kernel, type OpSpec } from "./registry.ts";

export const ATTENTION: OpSpec = {
  op: "attention",
  formulation: "softmax(q k^T / sqrt(hd) + mask) v per query head, over its kv head (GQA), prefix keys first",
  gradient: "dv = p^T dy; dp = dy v^T; ds = p * (dp - rowsum(dp * p)) * scale; dq = ds k; dk = ds^T q",
  reference: {
    name: "blockAttention",
    plan: () =>
      "batched matMul per kv-head group ([B,KV,G*S,hd] x [B,KV,S,hd]^T), additive block-diagonal causal mask, no per-head slices",
  },
};

/** Per-layer keys/values already seen (post-RoPE), [batch, numKvHeads, pastLen, headDim]. */
export interface KvSlots {
  keys: (tf.Tensor4D | null)[];
  values: (tf.Tensor4D | null)[];
}

export interface AttentionInput {
  /** [B*S, H*hd], [B*S, KV*hd], [B*S, KV*hd]; q and k after RoPE. */
  q: tf.Tensor2D;
  k: tf.Tensor2D;
  v: tf.Tensor2D;
  /** P-tuning v2 prefix keys/values, each [KV, P, hd], seen by every query (no RoPE). */
  prefix: { key: tf.Tensor3D; value: tf.Tensor3D } | null;
  /** Keys/values of earlier calls, extended here (its `layer` slot). */
  cache?: KvSlots;
  layer: number;
  /** Additive [B, S, P + past + S]. */
  mask: Float32Array;
  /** The mask is plain causal (no padding, packing or cache), which kernels know without it. */
  plainCausal: boolean;
  B: number;
  S: number;
  P: number;
  past: number;
  H: number;
  KV: number;
  hd: number;
  grad: boolean;
  /** The reference with tfjs's built-in gradients (batched matmuls): a check for tests. */
  batched?: boolean;
  /** Score scale (default 1/sqrt(hd); Gemma: query_pre_attn_scalar^-0.5). */
  scale?: number;
  /** Scores capped as cap * tanh(score / cap) before the mask (Gemma 2): the batched reference runs it. */
  softcap?: number | null;
}

/** Attention output [B*S, H*hd], heads side by side as o_proj reads them. */
export function attention(a: AttentionInput): tf.Tensor2D {
  const fast = a.batched || a.cache || a.softcap != null ? undefined : kernel("attention");
  return fast ? kernelAttention(a, fast) : referenceAttention(a);
}

function kernelAttention(
  a: AttentionInput,
  run: NonNullable<ReturnType<typeof kernel<"attention">>>,
): tf.Tensor2D {
  const { B, S, P, KV, hd, prefix } = a;
  let { k, v } = a;
  if (prefix) {
    // [KV, P, hd] -> [P, KV x hd] before each row's own keys; broadcast over rows by adding
    // zeros, so its gradient is a plain sum.
    const withPrefix = (t: tf.Tensor3D, own: tf.Tensor2D): tf.Tensor2D => {
      const flat = tf.reshape(tf.transpose(t, [1, 0, 2]), [1, P, KV * hd]);
      const rows = tf.add(tf.zeros([B, 1, 1]), flat);
      return tf.reshape(tf.concat([rows, tf.reshape(own, [B, S, KV * hd])], 1), [B * (P + S), KV * hd]);
    };
    k = withPrefix(prefix.key, k);
    v = withPrefix(prefix.value, v);
  }
  const dims = { B, S, K: P + S, H: a.H, KV, hd };
  return run(a.q, k, v, a.plainCausal ? null : a.mask, dims, a.scale ?? 1 / Math.sqrt(hd), a.grad);
}

function referenceAttention(a: AttentionInput): tf.Tensor2D {
  const { B, S, P, past, H, KV, hd, grad, cache, layer: l } = a;
  const T = B * S;
  const G = H / KV;
  const K = P + past + S;
  // [B, S, heads, hd] -> [B, heads, S, hd]
  // Training keeps no copies for reshapes (see reshapeLean).
  const rs = (t: tf.Tensor, shape: number[]): tf.Tensor =>
    grad ? reshapeLean(t, shape) : tf.reshape(t, shape);
  const q4 = rs(tf.transpose(rs(a.q, [B, S, H, hd]), [0, 2, 1, 3]), [B, KV, G * S, hd]) as tf.Tensor4D;
  let k4 = tf.transpose(rs(a.k, [B, S, KV, hd]), [0, 2, 1, 3]) as tf.Tensor4D;
  let v4 = tf.transpose(rs(a.v, [B, S, KV, hd]), [0, 2, 1, 3]) as tf.Tensor4D;
  if (cache) {
    const pk = cache.keys[l];
    const pv = cache.values[l];
    if (pk && pv) {
      k4 = tf.concat([pk, k4], 2);
      v4 = tf.concat([pv, v4], 2);
    }
    const nk = tf.keep(k4);
    const nv = tf.keep(v4);
    cache.keys[l]?.dispose();
    cache.values[l]?.dispose();
    cache.keys[l] = nk;
    cache.values[l] = nv;
  }
  if (a.prefix) {
    // Broadcast [KV, P, hd] over the batch by adding zeros: its gradient is a plain sum.
    const zeros = tf.zeros([B, 1, 1, 1]);
    k4 = tf.concat([tf.add(zeros, tf.expandDims(a.prefix.key, 0)) as tf.Tensor4D, k4], 2);
    v4 = tf.concat([tf.add(zeros, tf.expandDims(a.prefix.value, 0)) as tf.Tensor4D, v4], 2);
  }
  const scale = a.scale ?? 1 / Math.sqrt(hd);
  const cap = a.softcap;
  let out: tf.Tensor;
  if (a.batched || cap != null) {
    // Reference formulation with built-in gradients (batched matmuls: slow on wasm).
    const raw = tf.mul(tf.matMul(q4, k4, false, true), scale); // [B, KV, G*S, K]
    const scores = cap != null ? tf.mul(tf.tanh(tf.div(raw, cap)), cap) : raw;
    const probs = tf.softmax(
      tf.add(tf.reshape(scores, [B, KV, G, S, K]), tf.tensor(a.mask, [B, 1, 1, S, K])),
    );
    out = tf.matMul(tf.reshape(probs, [B, KV, G * S, K]), v4);
  } else out = blockAttention(q4, k4, v4, a.mask, scale, grad);
  return rs(tf.transpose(rs(out, [B, H, S, hd]), [0, 2, 1, 3]), [T, H * hd]) as tf.Tensor2D;
}

/**
 * Causal attention over kv-head groups without batched matmuls (slow loops on wasm) and without
 * tf.slice (copies its whole input per slice on wasm): q/k/v are read once into JS and each
 * (row, kv head) block is uploaded as its own 2-D tensor, so every matmul is a plain 2-D call.
 * q: [B, KV, G*S, hd], k/v: [B, KV, K, hd], mask: additive [B, S, K]. Returns [B, KV, G*S, hd].
 */
export function blockAttention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  mask: Float32Array,
  scale: number,
  withGrad: boolean,
): tf.Tensor4D {
  const [B, KV, GS, hd] = q.shape;
  const K = k.shape[2];
  const S = mask.length / (B * K);
  const G = GS / S;
  // Mask rows repeated for the G query heads that share a kv head.
  const masks: Float32Array[] = [];
  for (let b = 0; b < B; b++) {
    const mb = new Float32Array(GS * K);
    for (let g = 0; g < G; g++) mb.set(mask.subarray(b * S * K, (b + 1) * S * K), g * S * K);
    masks.push(mb);
  }
  const qSize = GS * hd;
  const kSize = K * hd;

  // Transposes are done once for all blocks ([.., K, hd] -> [.., hd, K]), not per block.
  const transposedData = (t: tf.Tensor): Float32Array => {
    const tt = tf.transpose(t, [0, 1, 3, 2]);
    const d = tt.dataSync() as Float32Array;
    tt.dispose();
    return d;
  };

  const forward = (qd: Float32Array, kTd: Float32Array, vd: Float32Array) => {
    const outs: tf.Tensor[] = [];
    const probs: tf.Tensor[] = [];
    for (let b = 0; b < B; b++) {
      const mb = tf.tensor2d(masks[b]!, [GS, K]);
      for (let h = 0; h < KV; h++) {
        const i = b * KV + h;
        const [o, p] = tf.tidy(() => {
          const qb = tf.tensor2d(qd.subarray(i * qSize, (i + 1) * qSize), [GS, hd]);
          const kTb = tf.tensor2d(kTd.subarray(i * kSize, (i + 1) * kSize), [hd, K]);
          const vb = tf.tensor2d(vd.subarray(i * kSize, (i + 1) * kSize), [K, hd]);
          const p = tf.softmax(tf.add(tf.mul(tf.matMul(qb, kTb), scale), mb));
          return [tf.matMul(p, vb), p];
        });
        outs.push(o);
        if (withGrad) probs.push(p);
        else p.dispose();
      }
      mb.dispose();
    }
    const out = tf.reshape(tf.concat(outs), [B, KV, GS, hd]) as tf.Tensor4D;
    tf.dispose(outs);
    const p = withGrad ? tf.concat(probs) : null;
    tf.dispose(probs);
    return { out, p };
  };

  if (!withGrad) {
    const { out } = forward(q.dataSync() as Float32Array, transposedData(k), v.dataSync() as Float32Array);
    return out;
  }
  const f = tf.customGrad((qi, ki, vi, save) => {
    const { out, p } = forward(
      (qi as tf.Tensor).dataSync() as Float32Array,
      transposedData(ki as tf.Tensor),
      (vi as tf.Tensor).dataSync() as Float32Array,
    );
    (save as tf.GradSaveFunc)([qi as tf.Tensor, ki as tf.Tensor, vi as tf.Tensor, p!]);
    p!.dispose();
    return {
      value: out,
      gradFunc: freeing((dy, saved) => {
        const [qs, ks, vs, ps] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        const qTd = transposedData(qs);
        const kd = ks.dataSync() as Float32Array;
        const vTd = transposedData(vs);
        const pd = ps.dataSync() as Float32Array;
        const p4 = tf.reshape(ps, [B, KV, GS, K]);
        const pTd = transposedData(p4);
        p4.dispose();
        const dyd = (dy as tf.Tensor).dataSync() as Float32Array;
        const dqs: tf.Tensor[] = [];
        const dks: tf.Tensor[] = [];
        const dvs: tf.Tensor[] = [];
        const pSize = GS * K;
        for (let i = 0; i < B * KV; i++) {
          const [dq, dk, dv] = tf.tidy(() => {
            const qTb = tf.tensor2d(qTd.subarray(i * qSize, (i + 1) * qSize), [hd, GS]);
            const kb = tf.tensor2d(kd.subarray(i * kSize, (i + 1) * kSize), [K, hd]);
            const vTb = tf.tensor2d(vTd.subarray(i * kSize, (i + 1) * kSize), [hd, K]);
            const pTb = tf.tensor2d(pTd.subarray(i * pSize, (i + 1) * pSize), [K, GS]);
            const pb = tf.tensor2d(pd.subarray(i * pSize, (i + 1) * pSize), [GS, K]);
            const dob = tf.tensor2d(dyd.subarray(i * qSize, (i + 1) * qSize), [GS, hd]);
            const dp = tf.matMul(dob, vTb);
            const dv = tf.matMul(pTb, dob);
            const ds = tf.mul(tf.mul(pb, tf.sub(dp, tf.sum(tf.mul(dp, pb), -1, true))), scale) as tf.Tensor2D;
            // dk^T = q^T ds: one transpose for all blocks at the end.
            return [tf.matMul(ds, kb), tf.matMul(qTb, ds), dv];
          });
          dqs.push(dq);
          dks.push(dk);
          dvs.push(dv);
        }
        const grads = [
          tf.reshape(tf.concat(dqs), [B, KV, GS, hd]),
          tf.tidy(() => tf.transpose(tf.reshape(tf.concat(dks), [B, KV, hd, K]), [0, 1, 3, 2])),
          tf.reshape(tf.concat(dvs), [B, KV, K, hd]),
        ];
        tf.dispose([...dqs, ...dks, ...dvs]);
        return grads;
      }),
    };
  });
  return f(q, k, v) as tf.Tensor4D;
}
