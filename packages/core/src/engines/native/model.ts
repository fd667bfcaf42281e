// The decoder families' forward and hand-written backward on plain typed arrays, each op one addon
// kernel: RMSNorm, RoPE, flash attention (GQA, segment ids for packing and padding, sliding windows,
// logit soft-capping; memory linear in the sequence), SwiGLU, linears over weights kept in their storage
// dtype (bf16/f16/NF4 converted tile by tile), and the fused lm-head cross-entropy (no [T, V] logits).
// Beyond Llama (as the tfjs engine's llama.ts computes them): q/k norms, fused qkv/gate_up linears,
// partial rotary, Gemma's (1 + w) norms, scaled embeddings, sandwich norms, GeGLU and local RoPE base.
import { dropoutMaskValues } from "../../model/adapters/lora.ts";
import { subSeed } from "../../model/adapters/random.ts";
import { defaultPositions, type TokenBatch } from "../../model/batch.ts";
import { type LinearModule, linearModules, type ModelConfig } from "../../model/config.ts";
import { layerWindow } from "../../model/families/index.ts";
import type { NativeAddon, NativeWeight } from "../../model/native/types.ts";
import { embeddingScale, ropeTables, rotaryDim } from "../../model/rope.ts";
import { joinColumns, ropePartial, splitColumns } from "./activations.ts";
import {
  addMagnitudeGrad,
  type DoraSaved,
  doraFactor,
  doraForward,
  doraRowNorms,
  doraWeight,
  scaleColumns,
} from "./dora.ts";
import type { BaseTensor, Stored } from "./weights.ts";

/** LoRA on one linear, in the tfjs engine's layout: A^T [in, r], B^T [r, out] (y += scale x A^T B^T). */
export interface LoraPair {
  at: Float32Array;
  bt: Float32Array;
  dat: Float32Array;
  dbt: Float32Array;
  rank: number;
  /** DoRA's magnitude per output row [out] and its gradient sum (null: plain LoRA). */
  magnitude: Float32Array | null;
  dmagnitude: Float32Array | null;
}

/** Trainable rows of chosen token ids (PEFT's trainable tokens): float32 side tables the kernels read in place of the frozen rows. */
export interface TokenRows {
  ids: Int32Array;
  /** [V]: the row of a vocabulary id in `embed`/`head`, -1 when it does not train. */
  rowOf: Int32Array;
  embed: Float32Array;
  dEmbed: Float32Array;
  /** An untied lm_head's rows (null when tied: the embedding's rows are the head's). */
  head: Float32Array | null;
  dHead: Float32Array | null;
}

/** P-tuning v2 prefixes: a [P, L * 2 * KV * hd] table of keys and values (PEFT's layout) per pass. */
export interface PrefixTable {
  readonly virtualTokens: number;
  /** The table for one pass (through the reparameterization MLP when there is one). */
  forward(): Float32Array;
  /** Adds the gradient of the last forward()'s table to the trainables' sums. */
  backward(dTable: Float32Array): void;
}

/** What the method trains, as the model sees it. */
export interface Trainables {
  rows: TokenRows | null;
  prefix: PrefixTable | null;
  /** Base tensors that train (float32 storage): HF name -> their summed gradient, HF layout. */
  baseGrads: Map<string, Float32Array>;
  /** LoRA by `layer/module`. */
  lora: Map<string, LoraPair>;
  loraScale: number;
  loraDropout: number;
}

/** Per-layer keys/values seen so far (post-RoPE; prefixes first), [capacity, KV * hd] each; one sequence. */
export interface KvCache {
  length: number;
  capacity: number;
  /** Prefix positions at the start (not counted against the model's context). */
  prefix: number;
  keys: Float32Array[];
  values: Float32Array[];
}

interface Ctx {
  B: number;
  S: number;
  T: number;
  cos: Float32Array;
  sin: Float32Array;
  /** The tables with the local RoPE base (Gemma 3's sliding layers), made on first use. */
  localRope: () => { cos: Float32Array; sin: Float32Array };
  /** Segment per token (0 = padding) or null (one segment per row). */
  segments: Int32Array | null;
  training: boolean;
  seed: number;
  cache: KvCache | null;
  /** This pass's prefix table and its gradient (training). */
  prefix: Float32Array | null;
  dPrefix: Float32Array | null;
  P: number;
}

interface LoraSaved {
  /** The dropout mask's seed (null: no dropout); the mask is drawn again in backward, not kept. */
  maskSeed: number | null;
  xa: Float32Array;
  dora: DoraSaved | null;
}

/** A norm's input and 1/rms per row (what its backward needs). */
interface NormSaved {
  x: Float32Array;
  rstd: Float32Array;
}

interface LayerSaved {
  x: Float32Array;
  rstd1: Float32Array;
  h1: Float32Array;
  /** q and k before their per-head norms (q/k norm families). */
  qNorm: NormSaved | null;
  kNorm: NormSaved | null;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  attn: Float32Array;
  lse: Float32Array;
  /** o_proj's and down_proj's outputs before the sandwich norms (Gemma). */
  attnNorm: NormSaved | null;
  mlpNorm: NormSaved | null;
  x1: Float32Array;
  rstd2: Float32Array;
  h2: Float32Array;
  g: Float32Array;
  u: Float32Array;
  act: Float32Array;
  lora: Map<string, LoraSaved>;
  /** Keys per row (prefix + own). */
  K: number;
}

export interface PassResult {
  lossSum: number;
  trainedTokens: number;
}

/** A stored tensor as the kernels take it (NF4 as its codes and constants). */
export function nativeWeight(s: Stored): NativeWeight {
  return s.dtype === "nf4" ? { ...s.q, dtype: "nf4" } : s;
}

export class NativeModel {
  readonly modules: LinearModule[];
  private readonly order: string[];
  private readonly byName: Map<string, LinearModule>;
  /** DoRA's row norms by `layer/module`: they change only when A and B do (trainablesChanged). */
  private readonly doraNorms = new Map<string, Float32Array>();

  constructor(
    private readonly addon: NativeAddon,
    readonly config: ModelConfig,
    readonly base: Map<string, BaseTensor>,
    readonly train: Trainables,
  ) {
    this.modules = linearModules(config);
    this.order = this.modules.map((m) => m.name);
    this.byName = new Map(this.modules.map((m) => [m.name, m]));
  }

  private mod(name: LinearModule["name"]): LinearModule {
    const m = this.byName.get(name);
    if (!m) throw new Error(`native model: no ${name} linear`);
    return m;
  }

  private w(name: string): BaseTensor {
    const t = this.base.get(name);
    if (!t) throw new Error(`native model: no tensor "${name}"`);
    return t;
  }

  /** A base tensor as the kernels take it. */
  private nw(name: string): NativeWeight {
    return nativeWeight(this.w(name).stored);
  }

  private f32(name: string): Float32Array {
    const s = this.w(name).stored;
    if (s.dtype !== "f32") throw new Error(`native model: "${name}" is not float32`);
    return s.data;
  }

  /** c = alpha op(a) op(b) + beta c, packed row-major operands. */
  private gemm(
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    M: number,
    N: number,
    K: number,
    ta: boolean,
    tb: boolean,
    alpha: number,
    beta: number,
  ): void {
    this.addon.sgemmEx(a, b, c, M, N, K, ta, tb, alpha, beta, ta ? M : K, tb ? K : N, N);
  }

  private addInto(dst: Float32Array, src: Float32Array): void {
    for (let i = 0; i < dst.length; i++) dst[i]! += src[i]!;
  }

  /** A norm's weight as it scales: w, or 1 + w where the family stores it so (Gemma). */
  private normWeight(name: string): Float32Array {
    const w = this.f32(name);
    return this.config.normUnitOffset ? w.map((v) => 1 + v) : w;
  }

  /** RMSNorm of `rows` rows of width d (the hidden size, or a head's for q/k norms). */
  private norm(
    x: Float32Array,
    name: string,
    rows: number,
    d = this.config.hiddenSize,
  ): { y: Float32Array; rstd: Float32Array } {
    const y = new Float32Array(rows * d);
    const rstd = new Float32Array(rows);
    this.addon.rmsNormForward(x, this.normWeight(name), y, rstd, rows, d, this.config.rmsNormEps);
    return { y, rstd };
  }

  /** dx += d norm(x) / dx · dy; the weight's gradient is summed when it trains. */
  private normBack(
    dy: Float32Array,
    x: Float32Array,
    rstd: Float32Array,
    name: string,
    dx: Float32Array,
    rows: number,
    d = this.config.hiddenSize,
  ) {
    const g = this.train.baseGrads.get(name);
    const tmp = new Float32Array(rows * d);
    // d(1 + w) = dw: the gradient of Gemma's stored weight is the plain one.
    const dw = g ? new Float32Array(d) : null;
    this.addon.rmsNormBackward(dy, x, this.normWeight(name), rstd, tmp, dw, rows, d);
    this.addInto(dx, tmp);
    if (g && dw) this.addInto(g, dw);
  }

  private maskSeed(stepSeed: number, l: number, m: LinearModule): number {
    return subSeed(stepSeed, l, this.order.indexOf(m.name));
  }

  private linear(
    l: number,
    m: LinearModule,
    x: Float32Array,
    ctx: Ctx,
    saved: Map<string, LoraSaved> | null,
  ) {
    const { T } = ctx;
    const p = `model.layers.${l}.${m.path}`;
    const O = m.outFeatures;
    const I = m.inFeatures;
    const W = this.nw(`${p}.weight`);
    const y = new Float32Array(T * O);
    this.addon.linearForward(x, W, y, T, O, I, false);
    const pair = this.train.lora.get(`${l}/${m.name}`);
    // DoRA rescales x·Wᵀ without the bias: kept before the bias is added (no dropout: it is y).
    const doraBase =
      pair?.magnitude && !(ctx.training && this.train.loraDropout > 0) ? Float32Array.from(y) : null;
    if (m.bias) {
      const b = this.f32(`${p}.bias`);
      for (let t = 0; t < T; t++) for (let j = 0; j < O; j++) y[t * O + j]! += b[j]!;
    }
    if (pair) {
      const r = pair.rank;
      const rate = this.train.loraDropout;
      let xd = x;
      let mask: Float32Array | null = null;
      if (ctx.training && rate > 0) {
        // The tfjs engine's mask: same seed per step, layer and module (a recomputed layer draws it again).
        mask = dropoutMaskValues(T * I, rate, this.maskSeed(ctx.seed, l, m));
        xd = new Float32Array(x.length);
        for (let i = 0; i < x.length; i++) xd[i] = x[i]! * mask[i]!;
      }
      const xa = new Float32Array(T * r);
      this.gemm(xd, pair.at, xa, T, r, I, false, false, 1, 0);
      let dora: DoraSaved | null = null;
      if (pair.magnitude) {
        const scale = this.train.loraScale;
        const key = `${l}/${m.name}`;
        const norm =
          this.doraNorms.get(key) ??
          doraRowNorms(
            this.addon,
            doraWeight(this.w(`${p}.weight`).stored),
            pair.at,
            pair.bt,
            r,
            scale,
            O,
            I,
          );
        this.doraNorms.set(key, norm);
        let baseXd = doraBase;
        if (!baseXd) {
          baseXd = new Float32Array(T * O);
          this.addon.linearForward(xd, W, baseXd, T, O, I, false);
        }
        dora = doraForward(this.addon, y, baseXd, xa, pair.bt, pair.magnitude, norm, scale, T, O, r);
      } else this.gemm(xa, pair.bt, y, T, O, r, false, false, this.train.loraScale, 1);
      saved?.set(m.name, { maskSeed: mask ? this.maskSeed(ctx.seed, l, m) : null, xa, dora });
    }
    return y;
  }

  /** dx += dy W (+ the LoRA path); sums the weight, bias and LoRA gradients of what trains. */
  private linearBack(
    l: number,
    m: LinearModule,
    x: Float32Array,
    dy: Float32Array,
    dx: Float32Array,
    T: number,
    saved: Map<string, LoraSaved>,
  ): void {
    const p = `model.layers.${l}.${m.path}`;
    const I = m.inFeatures;
    const O = m.outFeatures;
    const W = this.nw(`${p}.weight`);
    const pair = this.train.lora.get(`${l}/${m.name}`);
    const s = pair ? saved.get(m.name)! : null;
    // DoRA: the adapter's output and, without dropout, the base's too are scaled by m/n per row.
    const c = s?.dora && pair?.magnitude ? doraFactor(pair.magnitude, s.dora.norm) : null;
    const dyc = c ? scaleColumns(dy, c, T, O) : dy;
    this.addon.linearBackwardInput(c && s?.maskSeed === null ? dyc : dy, W, dx, T, O, I, true);
    const gw = this.train.baseGrads.get(`${p}.weight`);
    if (gw) this.addon.linearBackwardWeight(dy, x, gw, T, O, I, true);
    const gb = m.bias ? this.train.baseGrads.get(`${p}.bias`) : undefined;
    if (gb) for (let t = 0; t < T; t++) for (let j = 0; j < O; j++) gb[j]! += dy[t * O + j]!;
    if (pair && s) {
      const mask = s.maskSeed === null ? null : dropoutMaskValues(T * I, this.train.loraDropout, s.maskSeed);
      let xd = x;
      if (mask) {
        xd = new Float32Array(x.length);
        for (let i = 0; i < x.length; i++) xd[i] = x[i]! * mask[i]!;
      }
      const r = pair.rank;
      const scale = this.train.loraScale;
      if (s.dora && pair.dmagnitude) addMagnitudeGrad(pair.dmagnitude, dy, s.dora, T, O);
      this.gemm(s.xa, dyc, pair.dbt, r, O, T, true, false, scale, 1);
      const dxa = new Float32Array(T * r);
      this.gemm(dyc, pair.bt, dxa, T, r, O, false, true, scale, 0);
      this.gemm(xd, dxa, pair.dat, I, r, T, true, false, 1, 1);
      if (!mask) this.gemm(dxa, pair.at, dx, T, I, r, false, true, 1, 1);
      else {
        const dxd = new Float32Array(T * I);
        this.gemm(dxa, pair.at, dxd, T, I, r, false, true, 1, 0);
        // DoRA under dropout: (m/n − 1)·x_d·Wᵀ reaches x through the mask.
        if (c)
          this.addon.linearBackwardInput(
            scaleColumns(
              dy,
              c.map((v) => v - 1),
              T,
              O,
            ),
            W,
            dxd,
            T,
            O,
            I,
            true,
          );
        for (let i = 0; i < dxd.length; i++) dx[i]! += dxd[i]! * mask[i]!;
      }
    }
  }

  /** The RoPE tables of layer l: the local base's on Gemma 3's sliding layers. */
  private ropeFor(l: number, ctx: Ctx): { cos: Float32Array; sin: Float32Array } {
    const cfg = this.config;
    return layerWindow(cfg, l) != null && cfg.ropeLocalTheta !== undefined ? ctx.localRope() : ctx;
  }

  /** RoPE (or its inverse) in place on x [T, heads * hd], over the rotary part of each head. */
  private rope(
    x: Float32Array,
    t: { cos: Float32Array; sin: Float32Array },
    T: number,
    heads: number,
    inverse: boolean,
  ) {
    const hd = this.config.headDim;
    const rot = rotaryDim(this.config);
    if (rot < hd) ropePartial(x, t.cos, t.sin, T, heads, hd, rot, inverse);
    else this.addon.rope(x, t.cos, t.sin, x, T, heads, hd, inverse);
  }

  /** The per-head RMSNorm of q or k before RoPE (Qwen3, Gemma 3), or nothing. */
  private headNorm(l: number, which: "q_norm" | "k_norm", x: Float32Array, rows: number) {
    if (!this.config.qkNorm) return null;
    const n = this.norm(x, `model.layers.${l}.self_attn.${which}.weight`, rows, this.config.headDim);
    return { y: n.y, saved: { x, rstd: n.rstd } };
  }

  /** The attention's score scale (query_pre_attn_scalar^-0.5 where the config has one), window and soft-cap. */
  private attentionShape(l: number): { scale: number; window: number; softcap: number } {
    const cfg = this.config;
    return {
      scale: (cfg.queryPreAttnScalar ?? cfg.headDim) ** -0.5,
      window: layerWindow(cfg, l) ?? 0,
      softcap: cfg.attnLogitSoftcap ?? 0,
    };
  }

  private layer(
    l: number,
    x: Float32Array,
    ctx: Ctx,
    keep: boolean,
  ): { out: Float32Array; saved: LayerSaved | null } {
    const cfg = this.config;
    const { B, S, T } = ctx;
    const H = cfg.numHeads;
    const KV = cfg.numKvHeads;
    const hd = cfg.headDim;
    const pre = `model.layers.${l}`;
    const lora = new Map<string, LoraSaved>();
    const sv = keep ? lora : null;
    const fused = this.byName.has("qkv_proj");
    const n1 = this.norm(x, `${pre}.input_layernorm.weight`, T);
    // A fused qkv_proj's output is q, k, v side by side (transformers' Phi3Attention slices it so).
    const [qp, kp, v] = fused
      ? splitColumns(this.linear(l, this.mod("qkv_proj"), n1.y, ctx, sv), T, [H * hd, KV * hd, KV * hd])
      : [
          this.linear(l, this.mod("q_proj"), n1.y, ctx, sv),
          this.linear(l, this.mod("k_proj"), n1.y, ctx, sv),
          this.linear(l, this.mod("v_proj"), n1.y, ctx, sv),
        ];
    const qn = this.headNorm(l, "q_norm", qp!, T * H);
    const kn = this.headNorm(l, "k_norm", kp!, T * KV);
    const q = qn ? qn.y : qp!;
    const k = kn ? kn.y : kp!;
    const tables = this.ropeFor(l, ctx);
    this.rope(q, tables, T, H, false);
    this.rope(k, tables, T, KV, false);
    let K = S;
    let kAll: Float32Array = k;
    let vAll: Float32Array = v!;
    const cache = ctx.cache;
    if (cache) {
      const w = KV * hd;
      cache.keys[l]!.set(k, cache.length * w);
      cache.values[l]!.set(v!, cache.length * w);
      K = cache.length + S;
      kAll = cache.keys[l]!.subarray(0, K * w);
      vAll = cache.values[l]!.subarray(0, K * w);
    } else if (ctx.prefix) {
      // Each row's keys: the layer's P prefix keys (no RoPE), then its own.
      const { P } = ctx;
      const w = KV * hd;
      K = P + S;
      kAll = new Float32Array(B * K * w);
      vAll = new Float32Array(B * K * w);
      const rowW = cfg.numLayers * 2 * w;
      for (let b = 0; b < B; b++) {
        for (let p = 0; p < P; p++) {
          const at = p * rowW + 2 * l * w;
          kAll.set(ctx.prefix.subarray(at, at + w), (b * K + p) * w);
          vAll.set(ctx.prefix.subarray(at + w, at + 2 * w), (b * K + p) * w);
        }
        kAll.set(k.subarray(b * S * w, (b + 1) * S * w), (b * K + P) * w);
        vAll.set(v!.subarray(b * S * w, (b + 1) * S * w), (b * K + P) * w);
      }
    }
    const attn = new Float32Array(T * H * hd);
    const lse = new Float32Array(B * H * S);
    const a = this.attentionShape(l);
    this.addon.flashAttentionForward(
      q,
      kAll,
      vAll,
      ctx.segments,
      attn,
      lse,
      B,
      S,
      K,
      H,
      KV,
      hd,
      a.scale,
      a.window,
      a.softcap,
    );
    // Gemma's sandwich: the attention and MLP outputs are normed before their residual adds.
    const sandwich = cfg.sandwichNorms ?? false;
    const attnOut = this.linear(l, this.mod("o_proj"), attn, ctx, sv);
    const na = sandwich ? this.norm(attnOut, `${pre}.post_attention_layernorm.weight`, T) : null;
    const x1 = na ? na.y : attnOut;
    this.addInto(x1, x);
    const n2 = this.norm(
      x1,
      `${pre}.${sandwich ? "pre_feedforward_layernorm" : "post_attention_layernorm"}.weight`,
      T,
    );
    const ffn = cfg.intermediateSize;
    // A fused gate_up_proj's output is gate then up (transformers' Phi3MLP chunk(2)).
    const [g, u] = this.byName.has("gate_up_proj")
      ? splitColumns(this.linear(l, this.mod("gate_up_proj"), n2.y, ctx, sv), T, [ffn, ffn])
      : [
          this.linear(l, this.mod("gate_proj"), n2.y, ctx, sv),
          this.linear(l, this.mod("up_proj"), n2.y, ctx, sv),
        ];
    const act = new Float32Array(g!.length);
    if (cfg.hiddenAct === "gelu_pytorch_tanh") this.addon.gegluForward(g!, u!, act, g!.length);
    else this.addon.swigluForward(g!, u!, act, g!.length);
    const mlp = this.linear(l, this.mod("down_proj"), act, ctx, sv);
    const nm = sandwich ? this.norm(mlp, `${pre}.post_feedforward_layernorm.weight`, T) : null;
    const out = nm ? nm.y : mlp;
    this.addInto(out, x1);
    if (!keep) return { out, saved: null };
    const saved: LayerSaved = {
      K,
      x,
      rstd1: n1.rstd,
      h1: n1.y,
      qNorm: qn?.saved ?? null,
      kNorm: kn?.saved ?? null,
      q,
      k: kAll,
      v: vAll,
      attn,
      lse,
      attnNorm: na ? { x: attnOut, rstd: na.rstd } : null,
      mlpNorm: nm ? { x: mlp, rstd: nm.rstd } : null,
      x1,
      rstd2: n2.rstd,
      h2: n2.y,
      g: g!,
      u: u!,
      act,
      lora,
    };
    return { out, saved };
  }

  /** dy through a sandwich norm (the gradient of its input), or dy itself without one. */
  private sandwichBack(dy: Float32Array, n: NormSaved | null, name: string, T: number): Float32Array {
    if (!n) return dy;
    const dx = new Float32Array(dy.length);
    this.normBack(dy, n.x, n.rstd, name, dx, T);
    return dx;
  }

  private layerBack(l: number, s: LayerSaved, dy: Float32Array, ctx: Ctx): Float32Array {
    const cfg = this.config;
    const { B, S, T } = ctx;
    const H = cfg.numHeads;
    const KV = cfg.numKvHeads;
    const hd = cfg.headDim;
    const d = cfg.hiddenSize;
    const pre = `model.layers.${l}`;
    const sandwich = cfg.sandwichNorms ?? false;
    const dmlp = this.sandwichBack(dy, s.mlpNorm, `${pre}.post_feedforward_layernorm.weight`, T);
    const dact = new Float32Array(s.act.length);
    this.linearBack(l, this.mod("down_proj"), s.act, dmlp, dact, T, s.lora);
    const dg = new Float32Array(s.g.length);
    const du = new Float32Array(s.u.length);
    if (cfg.hiddenAct === "gelu_pytorch_tanh") this.addon.gegluBackward(dact, s.g, s.u, dg, du, s.g.length);
    else this.addon.swigluBackward(dact, s.g, s.u, dg, du, s.g.length);
    const dh2 = new Float32Array(T * d);
    if (this.byName.has("gate_up_proj"))
      this.linearBack(l, this.mod("gate_up_proj"), s.h2, joinColumns([dg, du], T), dh2, T, s.lora);
    else {
      this.linearBack(l, this.mod("gate_proj"), s.h2, dg, dh2, T, s.lora);
      this.linearBack(l, this.mod("up_proj"), s.h2, du, dh2, T, s.lora);
    }
    const dx1 = Float32Array.from(dy);
    const n2 = `${pre}.${sandwich ? "pre_feedforward_layernorm" : "post_attention_layernorm"}.weight`;
    this.normBack(dh2, s.x1, s.rstd2, n2, dx1, T);
    const dattnOut = this.sandwichBack(dx1, s.attnNorm, `${pre}.post_attention_layernorm.weight`, T);
    const dattn = new Float32Array(T * H * hd);
    this.linearBack(l, this.mod("o_proj"), s.attn, dattnOut, dattn, T, s.lora);
    const dq = new Float32Array(s.q.length);
    let dk = new Float32Array(s.k.length);
    let dv = new Float32Array(s.v.length);
    const a = this.attentionShape(l);
    const seg = ctx.segments;
    this.addon.flashAttentionBackward(
      s.q,
      s.k,
      s.v,
      seg,
      s.attn,
      s.lse,
      dattn,
      dq,
      dk,
      dv,
      B,
      S,
      s.K,
      H,
      KV,
      hd,
      a.scale,
      a.window,
      a.softcap,
    );
    if (s.K > S) {
      // Split off the prefix keys' gradients into the table's (summed over rows).
      const P = s.K - S;
      const w = KV * hd;
      const rowW = cfg.numLayers * 2 * w;
      const own = (g: Float32Array, off: number) => {
        const out = new Float32Array(B * S * w);
        for (let b = 0; b < B; b++) {
          out.set(g.subarray((b * s.K + P) * w, (b + 1) * s.K * w), b * S * w);
          if (ctx.dPrefix)
            for (let p = 0; p < P; p++) {
              const src = (b * s.K + p) * w;
              const dst = p * rowW + 2 * l * w + off;
              for (let j = 0; j < w; j++) ctx.dPrefix[dst + j]! += g[src + j]!;
            }
        }
        return out;
      };
      dk = own(dk, 0);
      dv = own(dv, w);
    }
    const tables = this.ropeFor(l, ctx);
    this.rope(dq, tables, T, H, true);
    this.rope(dk, tables, T, KV, true);
    const dqp = this.headNormBack(l, "q_norm", dq, s.qNorm, T * H);
    const dkp = this.headNormBack(l, "k_norm", dk, s.kNorm, T * KV);
    const dh1 = new Float32Array(T * d);
    if (this.byName.has("qkv_proj"))
      this.linearBack(l, this.mod("qkv_proj"), s.h1, joinColumns([dqp, dkp, dv], T), dh1, T, s.lora);
    else {
      this.linearBack(l, this.mod("q_proj"), s.h1, dqp, dh1, T, s.lora);
      this.linearBack(l, this.mod("k_proj"), s.h1, dkp, dh1, T, s.lora);
      this.linearBack(l, this.mod("v_proj"), s.h1, dv, dh1, T, s.lora);
    }
    this.normBack(dh1, s.x, s.rstd1, `${pre}.input_layernorm.weight`, dx1, T);
    return dx1;
  }

  /** The gradient before a per-head q/k norm, given the one after it (dy itself without the norm). */
  private headNormBack(
    l: number,
    which: "q_norm" | "k_norm",
    dy: Float32Array,
    n: NormSaved | null,
    rows: number,
  ): Float32Array {
    if (!n) return dy;
    const dx = new Float32Array(dy.length);
    this.normBack(
      dy,
      n.x,
      n.rstd,
      `model.layers.${l}.self_attn.${which}.weight`,
      dx,
      rows,
      this.config.headDim,
    );
    return dx;
  }

  /** Embedding rows of `ids`, [n, d] float32. */
  private embed(ids: Int32Array): Float32Array {
    const d = this.config.hiddenSize;
    const V = this.w("model.embed_tokens.weight").shape[0]!;
    for (const id of ids)
      if (id < 0 || id >= V) throw new RangeError(`token id ${id} is outside the embedding (${V} rows)`);
    const out = new Float32Array(ids.length * d);
    const rows = this.train.rows;
    this.addon.embeddingGather(
      this.nw("model.embed_tokens.weight"),
      ids,
      out,
      V,
      d,
      rows && { rowOf: rows.rowOf, data: rows.embed },
    );
    return out;
  }

  /** Gemma's embeddings times sqrt(hidden) in the model dtype, in place (and so their gradient). */
  private scaleEmbeddings(x: Float32Array): Float32Array {
    if (!this.config.embeddingScale) return x;
    const c = embeddingScale(this.config);
    for (let i = 0; i < x.length; i++) x[i]! *= c;
    return x;
  }

  private headName(): string {
    return this.config.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight";
  }

  private context(b: TokenBatch, training: boolean, seed: number, cache: KvCache | null, grad = false): Ctx {
    const prefix = cache ? null : (this.train.prefix?.forward() ?? null);
    const P = this.train.prefix?.virtualTokens ?? 0;
    // Positions continue after the prefix, as the tfjs engine's.
    const positions = b.positions ?? defaultPositions(b, cache ? cache.length : P);
    const cfg = this.config;
    const { cos, sin } = ropeTables(cfg, positions);
    const T = b.batch * b.seqLen;
    let local: { cos: Float32Array; sin: Float32Array } | null = null;
    return {
      B: b.batch,
      S: b.seqLen,
      T,
      cos,
      sin,
      localRope: () => {
        local ??= ropeTables(
          { ...cfg, ropeTheta: cfg.ropeLocalTheta ?? cfg.ropeTheta, ropeScaling: null },
          positions,
        );
        return local;
      },
      segments: cache ? null : (b.segments ?? null),
      training,
      seed,
      cache,
      prefix,
      dPrefix: prefix && grad ? new Float32Array(prefix.length) : null,
      P: prefix ? P : 0,
    };
  }

  /**
   * Loss summed over the trained tokens of `targets` (already shifted; -100 = not trained), and with
   * `grad` its gradients added to the trainables' sums. `recompute` keeps only each layer's input.
   */
  pass(
    b: TokenBatch,
    targets: Int32Array,
    opts: {
      grad: boolean;
      training: boolean;
      seed: number;
      recompute: boolean;
      /** Added to the input embeddings [T, d] before the first layer (NEFTune's noise), given S. */
      inputNoise?: (T: number, d: number, seqLen: number) => Float32Array;
    },
  ): PassResult {
    const cfg = this.config;
    const d = cfg.hiddenSize;
    const ctx = this.context(b, opts.training, opts.seed, null, opts.grad);
    const { T } = ctx;
    let trainedTokens = 0;
    for (const t of targets) if (t !== -100) trainedTokens++;
    if (trainedTokens === 0) return { lossSum: 0, trainedTokens };
    let x = this.embed(b.ids);
    // NEFTune's noise lands on the embedding output, before a family's scale (as in transformers).
    if (opts.inputNoise) this.addInto(x, opts.inputNoise(T, d, b.seqLen));
    x = this.scaleEmbeddings(x);
    const saved: (LayerSaved | Float32Array)[] = [];
    for (let l = 0; l < cfg.numLayers; l++) {
      const r = this.layer(l, x, ctx, opts.grad && !opts.recompute);
      if (opts.grad) saved.push(r.saved ?? x);
      x = r.out;
    }
    const fin = this.norm(x, "model.norm.weight", T);
    const dh = opts.grad ? new Float32Array(T * d) : null;
    const name = this.headName();
    const V = this.w(name).shape[0]!;
    const gH = dh ? (this.train.baseGrads.get(name) ?? null) : null;
    const ce = this.addon.lmHeadCrossEntropy(
      fin.y,
      this.nw(name),
      targets,
      dh,
      gH,
      T,
      V,
      d,
      1,
      false,
      this.headRows(dh !== null),
      cfg.finalLogitSoftcap ?? 0,
    );
    if (!dh) return { lossSum: ce.loss, trainedTokens };
    let dx: Float32Array = new Float32Array(T * d);
    this.normBack(dh, x, fin.rstd, "model.norm.weight", dx, T);
    for (let l = cfg.numLayers - 1; l >= 0; l--) {
      let s = saved[l]!;
      // Gradient checkpointing: the layer runs again from its input.
      if (s instanceof Float32Array) s = this.layer(l, s, ctx, true).saved!;
      saved[l] = new Float32Array(0);
      dx = this.layerBack(l, s, dx, ctx);
    }
    this.scaleEmbeddings(dx);
    const gE = this.train.baseGrads.get("model.embed_tokens.weight");
    if (gE) this.addon.embeddingScatterAdd(dx, b.ids, gE, gE.length / d, d, null);
    if (ctx.dPrefix) this.train.prefix!.backward(ctx.dPrefix);
    const rows = this.train.rows;
    if (rows) this.addon.embeddingScatterAdd(dx, b.ids, rows.dEmbed, rows.rowOf.length, d, rows.rowOf);
    return { lossSum: ce.loss, trainedTokens };
  }

  /** The head's trainable token rows (the embedding's when tied), with their gradient sums when training. */
  private headRows(
    grad: boolean,
  ): { rowOf: Int32Array; data: Float32Array; grad: Float32Array | null } | null {
    const rows = this.train.rows;
    if (!rows) return null;
    const tied = this.config.tieWordEmbeddings;
    const data = tied ? rows.embed : rows.head!;
    const g = tied ? rows.dEmbed : rows.dHead!;
    return { rowOf: rows.rowOf, data, grad: grad ? g : null };
  }

  /** The trainables were updated (an optimizer step, a restored state): forget what depends on them. */
  trainablesChanged(): void {
    this.doraNorms.clear();
  }

  /** A LoRA pair's merged delta scale * B A in the linear's HF layout [out, in]. */
  loraDelta(pair: LoraPair, inF: number, outF: number): Float32Array {
    const D = new Float32Array(outF * inF);
    this.gemm(pair.bt, pair.at, D, outF, inF, pair.rank, true, true, this.train.loraScale, 0);
    return D;
  }

  /** A cache for `maxLen` positions after the prefix (whose keys and values it starts with). */
  newCache(maxLen: number): KvCache {
    const cfg = this.config;
    const w = cfg.numKvHeads * cfg.headDim;
    const L = cfg.numLayers;
    const P = this.train.prefix?.virtualTokens ?? 0;
    const capacity = P + maxLen;
    const cache: KvCache = {
      length: P,
      capacity,
      prefix: P,
      keys: Array.from({ length: L }, () => new Float32Array(capacity * w)),
      values: Array.from({ length: L }, () => new Float32Array(capacity * w)),
    };
    if (P) {
      const table = this.train.prefix!.forward();
      const rowW = L * 2 * w;
      for (let l = 0; l < L; l++)
        for (let p = 0; p < P; p++) {
          const at = p * rowW + 2 * l * w;
          cache.keys[l]!.set(table.subarray(at, at + w), p * w);
          cache.values[l]!.set(table.subarray(at + w, at + 2 * w), p * w);
        }
    }
    return cache;
  }

  /** Logits [V] of the last of `ids`, continuing the cache (one sequence). */
  nextLogits(ids: readonly number[], cache: KvCache): Float32Array {
    const d = this.config.hiddenSize;
    const b: TokenBatch = { batch: 1, seqLen: ids.length, ids: Int32Array.from(ids) };
    const ctx = this.context(b, false, 0, cache);
    let x = this.scaleEmbeddings(this.embed(b.ids));
    for (let l = 0; l < this.config.numLayers; l++) x = this.layer(l, x, ctx, false).out;
    cache.length += ids.length;
    const fin = this.norm(x.subarray((ids.length - 1) * d), "model.norm.weight", 1);
    const name = this.headName();
    const V = this.w(name).shape[0]!;
    const logits = new Float32Array(V);
    this.addon.linearForward(fin.y, this.nw(name), logits, 1, V, d, false);
    const rows = this.headRows(false);
    // Trained token rows replace their columns of the frozen head.
    if (rows)
      this.train.rows!.ids.forEach((id, r) => {
        let dot = 0;
        for (let j = 0; j < d; j++) dot += fin.y[j]! * rows.data[r * d + j]!;
        logits[id] = dot;
      });
    const cap = this.config.finalLogitSoftcap;
    if (cap != null) for (let i = 0; i < V; i++) logits[i] = cap * Math.tanh(logits[i]! / cap);
    return logits;
  }
}
