// A plain float64 Phi-3 forward for tests, read off config.json and the checkpoint's own tensors (no sftkit
// config parsing), written from transformers' src/transformers/models/phi3/modeling_phi3.py at commit
// 00d4b3d2142cb4ced2f51b90614b5d26bc045015 (Phi3Attention: one qkv_proj sliced q, k, v; apply_rotary_pos_emb on
// the first rotary_dim dims only; Phi3MLP: gate_up_proj chunked gate, up; up * silu(gate)) and
// modeling_rope_utils.py _compute_longrope_parameters (short factors up to original_max_position_embeddings,
// long beyond it; cos and sin times the attention factor). A `sliding_window` hides keys `window` or more
// places back on every layer (Phi3Attention passes config.sliding_window; masking_utils.py sliding_window_overlay).

type Weights = Map<string, Float32Array>;
type Json = Record<string, unknown>;

function get(w: Weights, name: string): Float32Array {
  const v = w.get(name);
  if (!v) throw new Error(`phi3 reference: missing ${name}`);
  return v;
}

/** y[t, o] = sum_i x[t, i] * W[o, i]; W as stored, [out, in]. */
function matT(x: Float64Array, T: number, n: number, W: Float32Array, out: number): Float64Array {
  const y = new Float64Array(T * out);
  for (let t = 0; t < T; t++)
    for (let o = 0; o < out; o++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += x[t * n + i]! * W[o * n + i]!;
      y[t * out + o] = s;
    }
  return y;
}

/** Phi3RMSNorm: weight * x * rsqrt(mean(x^2) + eps). */
function rms(x: Float64Array, T: number, d: number, w: Float32Array, eps: number): Float64Array {
  const y = new Float64Array(T * d);
  for (let t = 0; t < T; t++) {
    let v = 0;
    for (let i = 0; i < d; i++) v += x[t * d + i]! ** 2;
    const r = 1 / Math.sqrt(v / d + eps);
    for (let i = 0; i < d; i++) y[t * d + i] = w[i]! * x[t * d + i]! * r;
  }
  return y;
}

/** inv_freq and attention scaling as transformers computes them for this config and sequence length. */
function rotary(c: Json, headDim: number, seqLen: number): { inv: Float64Array; scale: number } {
  const base = (c.rope_theta as number | undefined) ?? 10000;
  const dim = Math.floor(headDim * ((c.partial_rotary_factor as number | undefined) ?? 1));
  const inv = new Float64Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) inv[i] = 1 / base ** ((2 * i) / dim);
  const s = c.rope_scaling as Json | null | undefined;
  if (!s) return { inv, scale: 1 };
  const type = s.rope_type ?? s.type;
  if (type !== "longrope") throw new Error(`phi3 reference: rope type ${String(type)}`);
  const maxPos = c.max_position_embeddings as number;
  // Phi3Config has original_max_position_embeddings (default 4096): factor = max / original.
  const original = (c.original_max_position_embeddings as number | undefined) ?? 4096;
  const factor = maxPos / original;
  const scale =
    (s.attention_factor as number | undefined) ??
    (factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(original)));
  const ext = (seqLen > original ? s.long_factor : s.short_factor) as number[];
  for (let i = 0; i < dim / 2; i++) inv[i] = inv[i]! / ext[i]!;
  return { inv, scale };
}

/** Logits [T][V] of one causal sequence at positions 0..T-1. */
export function phi3ReferenceLogits(c: Json, w: Weights, ids: number[]): number[][] {
  const d = c.hidden_size as number;
  const H = c.num_attention_heads as number;
  const KV = (c.num_key_value_heads as number | undefined) ?? H;
  const hd = (c.head_dim as number | undefined) ?? d / H;
  const ffn = c.intermediate_size as number;
  const L = c.num_hidden_layers as number;
  const eps = (c.rms_norm_eps as number | undefined) ?? 1e-5;
  const V = c.vocab_size as number;
  const T = ids.length;
  const window = (c.sliding_window as number | null | undefined) ?? null;
  const E = get(w, "model.embed_tokens.weight");
  let x = new Float64Array(T * d);
  ids.forEach((id, t) => {
    for (let i = 0; i < d; i++) x[t * d + i] = E[id * d + i]!;
  });
  const { inv, scale } = rotary(c, hd, T);
  const rot = inv.length * 2;
  const applyRope = (buf: Float64Array, heads: number) => {
    for (let t = 0; t < T; t++)
      for (let h = 0; h < heads; h++) {
        const o = (t * heads + h) * hd;
        for (let i = 0; i < rot / 2; i++) {
          const a = t * inv[i]!;
          const cs = Math.cos(a) * scale;
          const sn = Math.sin(a) * scale;
          const x1 = buf[o + i]!;
          const x2 = buf[o + i + rot / 2]!;
          buf[o + i] = x1 * cs - x2 * sn;
          buf[o + i + rot / 2] = x2 * cs + x1 * sn;
        }
      }
  };
  const opSize = H * hd + 2 * KV * hd;
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}`;
    const h = rms(x, T, d, get(w, `${p}.input_layernorm.weight`), eps);
    const qkv = matT(h, T, d, get(w, `${p}.self_attn.qkv_proj.weight`), opSize);
    const q = new Float64Array(T * H * hd);
    const k = new Float64Array(T * KV * hd);
    const v = new Float64Array(T * KV * hd);
    for (let t = 0; t < T; t++) {
      const row = qkv.subarray(t * opSize, (t + 1) * opSize);
      q.set(row.subarray(0, H * hd), t * H * hd);
      k.set(row.subarray(H * hd, H * hd + KV * hd), t * KV * hd);
      v.set(row.subarray(H * hd + KV * hd), t * KV * hd);
    }
    applyRope(q, H);
    applyRope(k, KV);
    const attn = new Float64Array(T * H * hd);
    for (let hh = 0; hh < H; hh++) {
      const kvh = Math.floor(hh / (H / KV));
      for (let t = 0; t < T; t++) {
        const sc = new Float64Array(t + 1);
        const first = window == null ? 0 : Math.max(0, t - window + 1);
        let mx = -Infinity;
        for (let u = first; u <= t; u++) {
          let s = 0;
          for (let i = 0; i < hd; i++) s += q[(t * H + hh) * hd + i]! * k[(u * KV + kvh) * hd + i]!;
          sc[u] = s / Math.sqrt(hd);
          mx = Math.max(mx, sc[u]!);
        }
        let z = 0;
        for (let u = first; u <= t; u++) {
          sc[u] = Math.exp(sc[u]! - mx);
          z += sc[u]!;
        }
        for (let u = first; u <= t; u++)
          for (let i = 0; i < hd; i++)
            attn[(t * H + hh) * hd + i]! += (sc[u]! / z) * v[(u * KV + kvh) * hd + i]!;
      }
    }
    const o = matT(attn, T, H * hd, get(w, `${p}.self_attn.o_proj.weight`), d);
    for (let i = 0; i < x.length; i++) x[i] = x[i]! + o[i]!;
    const h2 = rms(x, T, d, get(w, `${p}.post_attention_layernorm.weight`), eps);
    const gu = matT(h2, T, d, get(w, `${p}.mlp.gate_up_proj.weight`), 2 * ffn);
    const act = new Float64Array(T * ffn);
    for (let t = 0; t < T; t++)
      for (let i = 0; i < ffn; i++) {
        const g = gu[t * 2 * ffn + i]!;
        const u = gu[t * 2 * ffn + ffn + i]!;
        act[t * ffn + i] = u * (g / (1 + Math.exp(-g)));
      }
    const down = matT(act, T, ffn, get(w, `${p}.mlp.down_proj.weight`), d);
    const next = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) next[i] = x[i]! + down[i]!;
    x = next;
  }
  const hn = rms(x, T, d, get(w, "model.norm.weight"), eps);
  const head = c.tie_word_embeddings ? E : get(w, "lm_head.weight");
  const logits = matT(hn, T, d, head, V);
  return Array.from({ length: T }, (_, t) => Array.from(logits.subarray(t * V, (t + 1) * V)));
}
