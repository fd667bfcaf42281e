// A plain float64 Llama forward for tests: independent of tfjs, written straight from the HF math.
// Beyond Llama (transformers at 000c33fdfde12e1ffafbfcdb3c926df5727a00b6): the sliding window of
// masking_utils.py `sliding_window_overlay` (a query sees keys with kv_idx > q_idx - window) on the layers
// `layer_types` marks sliding (modeling_qwen2.py, modeling_mistral.py), and modeling_qwen3.py's q_norm/k_norm
// (Qwen3RMSNorm over each head's head_dim, before apply_rotary_pos_emb). Gemma (modeling_gemma2.py,
// modeling_gemma3.py): Gemma2RMSNorm's x * rsqrt(mean(x^2) + eps) * (1 + w), the embedding times
// sqrt(hidden_size) rounded to the model dtype, scaling = query_pre_attn_scalar**-0.5, scores
// cap * tanh(score / cap) before the mask, post_attention/pre_feedforward/post_feedforward norms, the MLP's
// gelu_pytorch_tanh, final logits cap * tanh(logit / cap), and rope_local_base_freq on sliding layers.
import type { ModelConfig } from "./config.ts";
import { layerWindow } from "./families/features.ts";
import { embeddingScale, inverseFrequencies } from "./rope.ts";

type Weights = Map<string, Float32Array>;

function get(w: Weights, name: string): Float32Array {
  const v = w.get(name);
  if (!v) throw new Error(`reference: missing ${name}`);
  return v;
}

/** y[t, out] = sum_in x[t, in] * W[out, in] (+ b[out]); W in HF [out, in] layout. */
function matT(
  x: Float64Array,
  T: number,
  n: number,
  W: Float32Array,
  out: number,
  b?: Float32Array,
): Float64Array {
  const y = new Float64Array(T * out);
  for (let t = 0; t < T; t++)
    for (let o = 0; o < out; o++) {
      let s = b ? b[o]! : 0;
      for (let i = 0; i < n; i++) s += x[t * n + i]! * W[o * n + i]!;
      y[t * out + o] = s;
    }
  return y;
}

function rms(x: Float64Array, T: number, d: number, w: Float32Array, eps: number, offset = 0): Float64Array {
  const y = new Float64Array(T * d);
  for (let t = 0; t < T; t++) {
    let v = 0;
    for (let i = 0; i < d; i++) v += x[t * d + i]! ** 2;
    const r = 1 / Math.sqrt(v / d + eps);
    for (let i = 0; i < d; i++) y[t * d + i] = x[t * d + i]! * r * (offset + w[i]!);
  }
  return y;
}

/** cap * tanh(v / cap), or v without a cap. */
const softcap = (v: number, cap: number | null | undefined) => (cap == null ? v : cap * Math.tanh(v / cap));

/** transformers' gelu_pytorch_tanh. */
const geluTanh = (g: number) => 0.5 * g * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (g + 0.044715 * g ** 3)));

function rope(x: Float64Array, T: number, heads: number, hd: number, inv: Float64Array, pos: number[]): void {
  const half = hd / 2;
  for (let t = 0; t < T; t++)
    for (let h = 0; h < heads; h++) {
      const o = (t * heads + h) * hd;
      for (let i = 0; i < half; i++) {
        const a = pos[t]! * inv[i]!;
        const c = Math.cos(a);
        const s = Math.sin(a);
        const x1 = x[o + i]!;
        const x2 = x[o + i + half]!;
        x[o + i] = x1 * c - x2 * s;
        x[o + i + half] = x2 * c + x1 * s;
      }
    }
}

/** Logits [T][V] for one causal sequence; positions default to 0..T-1. */
export function referenceLogits(
  cfg: ModelConfig,
  w: Weights,
  ids: number[],
  positions?: number[],
): number[][] {
  const T = ids.length;
  const d = cfg.hiddenSize;
  const H = cfg.numHeads;
  const KV = cfg.numKvHeads;
  const hd = cfg.headDim;
  const pos = positions ?? ids.map((_, i) => i);
  const inv = inverseFrequencies(cfg);
  const localInv =
    cfg.ropeLocalTheta !== undefined
      ? inverseFrequencies({ ...cfg, ropeTheta: cfg.ropeLocalTheta, ropeScaling: null })
      : inv;
  const off = cfg.normUnitOffset ? 1 : 0;
  const norm = (v: Float64Array, rows: number, n: number, name: string) =>
    rms(v, rows, n, get(w, name), cfg.rmsNormEps, off);
  const E = get(w, "model.embed_tokens.weight");
  const embedScale = cfg.embeddingScale ? embeddingScale(cfg) : 1;
  let x = new Float64Array(T * d);
  ids.forEach((id, t) => {
    for (let i = 0; i < d; i++) x[t * d + i] = E[id * d + i]! * embedScale;
  });
  const bias = (n: string) => w.get(n);
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}`;
    const h = norm(x, T, d, `${p}.input_layernorm.weight`);
    const q = matT(
      h,
      T,
      d,
      get(w, `${p}.self_attn.q_proj.weight`),
      H * hd,
      bias(`${p}.self_attn.q_proj.bias`),
    );
    const k = matT(
      h,
      T,
      d,
      get(w, `${p}.self_attn.k_proj.weight`),
      KV * hd,
      bias(`${p}.self_attn.k_proj.bias`),
    );
    const v = matT(
      h,
      T,
      d,
      get(w, `${p}.self_attn.v_proj.weight`),
      KV * hd,
      bias(`${p}.self_attn.v_proj.bias`),
    );
    if (cfg.qkNorm) {
      // Each head's hd values normalised on their own: T * heads rows of hd.
      q.set(norm(q, T * H, hd, `${p}.self_attn.q_norm.weight`));
      k.set(norm(k, T * KV, hd, `${p}.self_attn.k_norm.weight`));
    }
    const window = layerWindow(cfg, l);
    const layerInv = window != null ? localInv : inv;
    rope(q, T, H, hd, layerInv, pos);
    rope(k, T, KV, hd, layerInv, pos);
    const scaling = (cfg.queryPreAttnScalar ?? hd) ** -0.5;
    const first = (t: number) => (window == null ? 0 : Math.max(0, t - window + 1));
    const att = new Float64Array(T * H * hd);
    for (let hh = 0; hh < H; hh++) {
      const kh = Math.floor(hh / (H / KV));
      for (let t = 0; t < T; t++) {
        const sc: number[] = [];
        for (let s = first(t); s <= t; s++) {
          let dot = 0;
          for (let i = 0; i < hd; i++) dot += q[(t * H + hh) * hd + i]! * k[(s * KV + kh) * hd + i]!;
          sc.push(softcap(dot * scaling, cfg.attnLogitSoftcap));
        }
        const m = Math.max(...sc);
        const e = sc.map((z) => Math.exp(z - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let s = first(t); s <= t; s++)
          for (let i = 0; i < hd; i++)
            att[(t * H + hh) * hd + i]! += (e[s - first(t)]! / z) * v[(s * KV + kh) * hd + i]!;
      }
    }
    const o = matT(
      att,
      T,
      H * hd,
      get(w, `${p}.self_attn.o_proj.weight`),
      d,
      bias(`${p}.self_attn.o_proj.bias`),
    );
    const sandwich = cfg.sandwichNorms ?? false;
    const oo = sandwich ? norm(o, T, d, `${p}.post_attention_layernorm.weight`) : o;
    x = x.map((a, i) => a + oo[i]!);
    const h2 = norm(
      x,
      T,
      d,
      `${p}.${sandwich ? "pre_feedforward_layernorm" : "post_attention_layernorm"}.weight`,
    );
    const F = cfg.intermediateSize;
    const g = matT(h2, T, d, get(w, `${p}.mlp.gate_proj.weight`), F, bias(`${p}.mlp.gate_proj.bias`));
    const u = matT(h2, T, d, get(w, `${p}.mlp.up_proj.weight`), F, bias(`${p}.mlp.up_proj.bias`));
    const gelu = cfg.hiddenAct === "gelu_pytorch_tanh";
    const a = g.map((gg, i) => (gelu ? geluTanh(gg) : gg / (1 + Math.exp(-gg))) * u[i]!);
    const dn0 = matT(a, T, F, get(w, `${p}.mlp.down_proj.weight`), d, bias(`${p}.mlp.down_proj.bias`));
    const dn = sandwich ? norm(dn0, T, d, `${p}.post_feedforward_layernorm.weight`) : dn0;
    x = x.map((xx, i) => xx + dn[i]!);
  }
  const hf = norm(x, T, d, "model.norm.weight");
  const head = cfg.tieWordEmbeddings ? E : get(w, "lm_head.weight");
  const logits = matT(hf, T, d, head, cfg.vocabSize).map((v) => softcap(v, cfg.finalLogitSoftcap));
  return Array.from({ length: T }, (_, t) =>
    Array.from(logits.subarray(t * cfg.vocabSize, (t + 1) * cfg.vocabSize)),
  );
}
