// Fused causal attention on the native tier: one kernel computes softmax(q k^T * scale + mask) v
// over every (row, head) straight from the [tokens, heads * headDim] layouts (no transposes, no
// per-head tensors), saving the probabilities for its backward kernel.
import * as tf from "@tensorflow/tfjs-core";
import { freeing } from "../free.ts";
import type { AttentionDims } from "../ops/registry.ts";
import { registerHeapKernel, runHeapKernel } from "./heap.ts";
import type { NativeAddon } from "./types.ts";

export type { AttentionDims };

const FORWARD = "SftkitAttention";
const BACKWARD = "SftkitAttentionGrad";

interface AttentionAttrs extends AttentionDims {
  mask: Float32Array | null;
  scale: number;
}

export function registerNativeAttention(addon: NativeAddon): void {
  // Outputs are made before any input is viewed: a new output can grow the wasm memory, which
  // detaches every earlier view of it.
  registerHeapKernel(FORWARD, (heap, inputs, attrs) => {
    const { B, S, K, H, KV, hd, scale, mask } = attrs as unknown as AttentionAttrs;
    const out = heap.out([B * S, H * hd]).info;
    const probs = heap.out([B, H, S, K]).info;
    addon.attentionForward(
      heap.f32(inputs.q!),
      heap.f32(inputs.k!),
      heap.f32(inputs.v!),
      mask,
      heap.f32(out),
      heap.f32(probs),
      B,
      S,
      K,
      H,
      KV,
      hd,
      scale,
    );
    return [out, probs];
  });
  registerHeapKernel(BACKWARD, (heap, inputs, attrs) => {
    const { B, S, K, H, KV, hd, scale } = attrs as unknown as AttentionAttrs;
    const dq = heap.out([B * S, H * hd]).info;
    const dk = heap.out([B * K, KV * hd]).info;
    const dv = heap.out([B * K, KV * hd]).info;
    addon.attentionBackward(
      heap.f32(inputs.q!),
      heap.f32(inputs.k!),
      heap.f32(inputs.v!),
      heap.f32(inputs.probs!),
      heap.f32(inputs.dout!),
      heap.f32(dq),
      heap.f32(dk),
      heap.f32(dv),
      B,
      S,
      K,
      H,
      KV,
      hd,
      scale,
    );
    return [dq, dk, dv];
  });
}

function checkShapes(
  q: tf.Tensor2D,
  k: tf.Tensor2D,
  v: tf.Tensor2D,
  mask: Float32Array | null,
  d: AttentionDims,
) {
  const { B, S, K, H, KV, hd } = d;
  const same = (t: tf.Tensor, r: number, c: number) => t.shape[0] === r && t.shape[1] === c;
  if (H % KV !== 0 || K < S)
    throw new Error(`nativeAttention: H=${H} must be a multiple of KV=${KV}, K=${K} >= S=${S}`);
  if (!same(q, B * S, H * hd) || !same(k, B * K, KV * hd) || !same(v, B * K, KV * hd))
    throw new Error(
      `nativeAttention: q [${q.shape}], k [${k.shape}], v [${v.shape}] do not match ` +
        `[${B * S}, ${H * hd}], [${B * K}, ${KV * hd}] (B=${B} S=${S} K=${K} H=${H} KV=${KV} hd=${hd})`,
    );
  if (mask && mask.length !== B * S * K)
    throw new Error(`nativeAttention: mask has ${mask.length} values, expected B*S*K = ${B * S * K}`);
}

/**
 * Causal attention on the native tier (registered as the attention op's kernel).
 * q [B*S, H*hd]; k, v [B*K, KV*hd]; mask: additive [B, S, K], or null for plain causal attention
 * (every prefix key visible, own keys up to the query). Returns [B*S, H*hd].
 */
export function nativeAttention(
  q: tf.Tensor2D,
  k: tf.Tensor2D,
  v: tf.Tensor2D,
  mask: Float32Array | null,
  dims: AttentionDims,
  scale: number,
  withGrad: boolean,
): tf.Tensor2D {
  checkShapes(q, k, v, mask, dims);
  const attrs = { ...dims, scale, mask };
  const forward = (qi: tf.Tensor, ki: tf.Tensor, vi: tf.Tensor) =>
    runHeapKernel<tf.Tensor[]>(FORWARD, { q: qi, k: ki, v: vi }, attrs) as [tf.Tensor2D, tf.Tensor4D];
  if (!withGrad) {
    const [out, probs] = forward(q, k, v);
    probs.dispose();
    return out;
  }
  const f = tf.customGrad((qi, ki, vi, save) => {
    const [out, probs] = forward(qi as tf.Tensor, ki as tf.Tensor, vi as tf.Tensor);
    (save as tf.GradSaveFunc)([qi as tf.Tensor, ki as tf.Tensor, vi as tf.Tensor, probs]);
    probs.dispose(); // the saved copy keeps its data
    return {
      value: out,
      gradFunc: freeing((dy, saved) => {
        const [qs, ks, vs, ps] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        return runHeapKernel<tf.Tensor[]>(
          BACKWARD,
          { q: qs, k: ks, v: vs, probs: ps, dout: dy as tf.Tensor },
          { ...dims, scale },
        );
      }),
    };
  });
  return f(q, k, v) as tf.Tensor2D;
}
