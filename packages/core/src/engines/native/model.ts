// The llama-family decoder (llama, qwen2, mistral) forward and hand-written backward on plain typed
// arrays, each op one addon kernel: RMSNorm, RoPE, GQA attention with segment masks, SwiGLU, BLAS
// linears over weights kept in their storage dtype, and a chunked cross-entropy that keeps no [T, V] logits.
import { dropoutMaskValues } from "../../model/adapters/lora.ts";
import { subSeed } from "../../model/adapters/random.ts";
import { attentionMask, defaultPositions, type TokenBatch } from "../../model/batch.ts";
import { type LinearModule, linearModules, type ModelConfig } from "../../model/config.ts";
import type { NativeAddon } from "../../model/native/types.ts";
import { ropeTables } from "../../model/rope.ts";
import { asF32, type BaseTensor, bf16ToF32, type Stored } from "./weights.ts";

/** LoRA on one linear, in the tfjs engine's layout: A^T [in, r], B^T [r, out] (y += scale x A^T B^T). */
export interface LoraPair {
  at: Float32Array;
  bt: Float32Array;
  dat: Float32Array;
  dbt: Float32Array;
  rank: number;
}

/** What the method trains, as the model sees it. */
export interface Trainables {
  /** Base tensors that train (float32 storage): HF name -> their summed gradient, HF layout. */
  baseGrads: Map<string, Float32Array>;
  /** LoRA by `layer/module`. */
  lora: Map<string, LoraPair>;
  loraScale: number;
  loraDropout: number;
}

/** Per-layer keys/values seen so far (post-RoPE), [maxLen, KV * hd] each; one sequence. */
export interface KvCache {
  length: number;
  keys: Float32Array[];
  values: Float32Array[];
}

interface Ctx {
  B: number;
  S: number;
  T: number;
  cos: Float32Array;
  sin: Float32Array;
  /** Additive [B, S, K] or null (plain causal). */
  mask: Float32Array | null;
  training: boolean;
  seed: number;
  cache: KvCache | null;
}

interface LoraSaved {
  /** The LoRA input after dropout (the linear's input when there is none). */
  xd: Float32Array;
  mask: Float32Array | null;
  xa: Float32Array;
}

interface LayerSaved {
  x: Float32Array;
  rstd1: Float32Array;
  h1: Float32Array;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  probs: Float32Array;
  attn: Float32Array;
  x1: Float32Array;
  rstd2: Float32Array;
  h2: Float32Array;
  g: Float32Array;
  u: Float32Array;
  act: Float32Array;
  lora: Map<string, LoraSaved>;
}

export interface PassResult {
  lossSum: number;
  trainedTokens: number;
}

/** Rows of `logits` per cross-entropy chunk: about this many values. */
const CE_CHUNK_VALUES = 1 << 22;

export class NativeModel {
  readonly modules: LinearModule[];
  private readonly order: string[];
  private scratchBuf = new Float32Array(0);

  constructor(
    private readonly addon: NativeAddon,
    readonly config: ModelConfig,
    readonly base: Map<string, BaseTensor>,
    readonly train: Trainables,
  ) {
    this.modules = linearModules(config);
    this.order = this.modules.map((m) => m.name);
  }

  private w(name: string): BaseTensor {
    const t = this.base.get(name);
    if (!t) throw new Error(`native model: no tensor "${name}"`);
    return t;
  }

  /** Float32 values of a stored tensor (a reused scratch when it is stored in another dtype). */
  private f32(s: Stored, n: number): Float32Array {
    return asF32(s, () => {
      if (this.scratchBuf.length < n) this.scratchBuf = new Float32Array(n);
      return this.scratchBuf.subarray(0, n);
    });
  }

  private mm(
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    M: number,
    N: number,
    K: number,
    ta: boolean,
    tb: boolean,
  ): void {
    this.addon.sgemm(a, b, c, M, N, K, ta, tb, 1, 0, 0, 0);
  }

  /** c += op(a) op(b) (through a temporary until the addon has a beta). */
  private mmAdd(
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    M: number,
    N: number,
    K: number,
    ta: boolean,
    tb: boolean,
    scale = 1,
  ): void {
    const t = new Float32Array(M * N);
    this.mm(a, b, t, M, N, K, ta, tb);
    if (scale === 1) for (let i = 0; i < t.length; i++) c[i]! += t[i]!;
    else for (let i = 0; i < t.length; i++) c[i]! += scale * t[i]!;
  }

  private addInto(dst: Float32Array, src: Float32Array): void {
    for (let i = 0; i < dst.length; i++) dst[i]! += src[i]!;
  }

  private norm(x: Float32Array, name: string, rows: number): { y: Float32Array; rstd: Float32Array } {
    const d = this.config.hiddenSize;
    const y = new Float32Array(rows * d);
    const rstd = new Float32Array(rows);
    const w = this.w(name).stored as { data: Float32Array };
    this.addon.rmsNormForward(x, w.data, y, rstd, rows, d, this.config.rmsNormEps);
    return { y, rstd };
  }

  /** dx (+)= d norm(x) / dx · dy; the weight's gradient is summed when it trains. */
  private normBack(
    dy: Float32Array,
    x: Float32Array,
    rstd: Float32Array,
    name: string,
    dx: Float32Array,
    rows: number,
  ) {
    const d = this.config.hiddenSize;
    const w = (this.w(name).stored as { data: Float32Array }).data;
    const g = this.train.baseGrads.get(name);
    const tmp = new Float32Array(rows * d);
    const dw = g ? new Float32Array(d) : null;
    this.addon.rmsNormBackward(dy, x, w, rstd, tmp, dw, rows, d);
    this.addInto(dx, tmp);
    if (g && dw) this.addInto(g, dw);
  }

  private linearName(l: number, m: LinearModule): string {
    return `model.layers.${l}.${m.path}`;
  }

  private linear(
    l: number,
    m: LinearModule,
    x: Float32Array,
    ctx: Ctx,
    saved: Map<string, LoraSaved> | null,
  ) {
    const { T } = ctx;
    const p = this.linearName(l, m);
    const W = this.w(`${p}.weight`);
    const y = new Float32Array(T * m.outFeatures);
    this.mm(
      x,
      this.f32(W.stored, m.inFeatures * m.outFeatures),
      y,
      T,
      m.outFeatures,
      m.inFeatures,
      false,
      true,
    );
    if (m.bias) {
      const b = (this.w(`${p}.bias`).stored as { data: Float32Array }).data;
      const o = m.outFeatures;
      for (let t = 0; t < T; t++) for (let j = 0; j < o; j++) y[t * o + j]! += b[j]!;
    }
    const pair = this.train.lora.get(`${l}/${m.name}`);
    if (pair) {
      const r = pair.rank;
      const rate = this.train.loraDropout;
      let xd = x;
      let mask: Float32Array | null = null;
      if (ctx.training && rate > 0) {
        mask = dropoutMaskValues(T * m.inFeatures, rate, subSeed(ctx.seed, l, this.order.indexOf(m.name)));
        xd = new Float32Array(x.length);
        for (let i = 0; i < x.length; i++) xd[i] = x[i]! * mask[i]!;
      }
      const xa = new Float32Array(T * r);
      this.mm(xd, pair.at, xa, T, r, m.inFeatures, false, false);
      this.mmAdd(xa, pair.bt, y, T, m.outFeatures, r, false, false, this.train.loraScale);
      saved?.set(m.name, { xd, mask, xa });
    }
    return y;
  }

  /** dx (+)= dy W (+ the LoRA path); sums the weight, bias and LoRA gradients of what trains. */
  private linearBack(
    l: number,
    m: LinearModule,
    x: Float32Array,
    dy: Float32Array,
    dx: Float32Array,
    T: number,
    saved: Map<string, LoraSaved>,
  ): void {
    const p = this.linearName(l, m);
    const W = this.w(`${p}.weight`);
    const I = m.inFeatures;
    const O = m.outFeatures;
    this.mmAdd(dy, this.f32(W.stored, I * O), dx, T, I, O, false, false);
    const gw = this.train.baseGrads.get(`${p}.weight`);
    if (gw) this.mmAdd(dy, x, gw, O, I, T, true, false);
    const gb = m.bias ? this.train.baseGrads.get(`${p}.bias`) : undefined;
    if (gb) for (let t = 0; t < T; t++) for (let j = 0; j < O; j++) gb[j]! += dy[t * O + j]!;
    const pair = this.train.lora.get(`${l}/${m.name}`);
    if (pair) {
      const s = saved.get(m.name)!;
      const r = pair.rank;
      const scale = this.train.loraScale;
      this.mmAdd(s.xa, dy, pair.dbt, r, O, T, true, false, scale);
      const dxa = new Float32Array(T * r);
      this.mm(dy, pair.bt, dxa, T, r, O, false, true);
      for (let i = 0; i < dxa.length; i++) dxa[i]! *= scale;
      this.mmAdd(s.xd, dxa, pair.dat, I, r, T, true, false);
      const dxd = new Float32Array(T * I);
      this.mm(dxa, pair.at, dxd, T, I, r, false, true);
      if (s.mask) for (let i = 0; i < dxd.length; i++) dx[i]! += dxd[i]! * s.mask[i]!;
      else this.addInto(dx, dxd);
    }
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
    const [mq, mk, mv, mo, mg, mu, md] = this.modules as [
      LinearModule,
      LinearModule,
      LinearModule,
      LinearModule,
      LinearModule,
      LinearModule,
      LinearModule,
    ];
    const pre = `model.layers.${l}`;
    const lora = new Map<string, LoraSaved>();
    const sv = keep ? lora : null;
    const n1 = this.norm(x, `${pre}.input_layernorm.weight`, T);
    const q = this.linear(l, mq, n1.y, ctx, sv);
    const k = this.linear(l, mk, n1.y, ctx, sv);
    const v = this.linear(l, mv, n1.y, ctx, sv);
    this.addon.rope(q, ctx.cos, ctx.sin, q, T, H, hd, false);
    this.addon.rope(k, ctx.cos, ctx.sin, k, T, KV, hd, false);
    let K = S;
    let kAll: Float32Array = k;
    let vAll: Float32Array = v;
    const cache = ctx.cache;
    if (cache) {
      const w = KV * hd;
      cache.keys[l]!.set(k, cache.length * w);
      cache.values[l]!.set(v, cache.length * w);
      K = cache.length + S;
      kAll = cache.keys[l]!.subarray(0, K * w);
      vAll = cache.values[l]!.subarray(0, K * w);
    }
    const attn = new Float32Array(T * H * hd);
    const probs = new Float32Array(B * H * S * K);
    this.addon.attentionForward(q, kAll, vAll, ctx.mask, attn, probs, B, S, K, H, KV, hd, 1 / Math.sqrt(hd));
    const x1 = this.linear(l, mo, attn, ctx, sv);
    this.addInto(x1, x);
    const n2 = this.norm(x1, `${pre}.post_attention_layernorm.weight`, T);
    const g = this.linear(l, mg, n2.y, ctx, sv);
    const u = this.linear(l, mu, n2.y, ctx, sv);
    const act = new Float32Array(g.length);
    this.addon.swigluForward(g, u, act, g.length);
    const out = this.linear(l, md, act, ctx, sv);
    this.addInto(out, x1);
    if (!keep) return { out, saved: null };
    return {
      out,
      saved: {
        x,
        rstd1: n1.rstd,
        h1: n1.y,
        q,
        k,
        v,
        probs,
        attn,
        x1,
        rstd2: n2.rstd,
        h2: n2.y,
        g,
        u,
        act,
        lora,
      },
    };
  }

  private layerBack(l: number, s: LayerSaved, dy: Float32Array, ctx: Ctx): Float32Array {
    const cfg = this.config;
    const { B, S, T } = ctx;
    const H = cfg.numHeads;
    const KV = cfg.numKvHeads;
    const hd = cfg.headDim;
    const d = cfg.hiddenSize;
    const [mq, mk, mv, mo, mg, mu, md] = this.modules as [
      LinearModule,
      LinearModule,
      LinearModule,
      LinearModule,
      LinearModule,
      LinearModule,
      LinearModule,
    ];
    const pre = `model.layers.${l}`;
    const dact = new Float32Array(s.act.length);
    this.linearBack(l, md, s.act, dy, dact, T, s.lora);
    const dg = new Float32Array(s.g.length);
    const du = new Float32Array(s.u.length);
    this.addon.swigluBackward(dact, s.g, s.u, dg, du, s.g.length);
    const dh2 = new Float32Array(T * d);
    this.linearBack(l, mg, s.h2, dg, dh2, T, s.lora);
    this.linearBack(l, mu, s.h2, du, dh2, T, s.lora);
    const dx1 = Float32Array.from(dy);
    this.normBack(dh2, s.x1, s.rstd2, `${pre}.post_attention_layernorm.weight`, dx1, T);
    const dattn = new Float32Array(T * H * hd);
    this.linearBack(l, mo, s.attn, dx1, dattn, T, s.lora);
    const dq = new Float32Array(s.q.length);
    const dk = new Float32Array(s.k.length);
    const dv = new Float32Array(s.v.length);
    this.addon.attentionBackward(
      s.q,
      s.k,
      s.v,
      s.probs,
      dattn,
      dq,
      dk,
      dv,
      B,
      S,
      S,
      H,
      KV,
      hd,
      1 / Math.sqrt(hd),
    );
    this.addon.rope(dq, ctx.cos, ctx.sin, dq, T, H, hd, true);
    this.addon.rope(dk, ctx.cos, ctx.sin, dk, T, KV, hd, true);
    const dh1 = new Float32Array(T * d);
    this.linearBack(l, mq, s.h1, dq, dh1, T, s.lora);
    this.linearBack(l, mk, s.h1, dk, dh1, T, s.lora);
    this.linearBack(l, mv, s.h1, dv, dh1, T, s.lora);
    const dx = dx1;
    this.normBack(dh1, s.x, s.rstd1, `${pre}.input_layernorm.weight`, dx, T);
    return dx;
  }

  /** Embedding rows of `ids`, [n, d] float32. */
  private embed(ids: Int32Array): Float32Array {
    const d = this.config.hiddenSize;
    const E = this.w("model.embed_tokens.weight").stored;
    const V = this.w("model.embed_tokens.weight").shape[0]!;
    const out = new Float32Array(ids.length * d);
    for (let t = 0; t < ids.length; t++) {
      const id = ids[t]!;
      if (id < 0 || id >= V) throw new RangeError(`token id ${id} is outside the embedding (${V} rows)`);
      const row = out.subarray(t * d, (t + 1) * d);
      if (E.dtype === "f32") row.set(E.data.subarray(id * d, (id + 1) * d));
      else if (E.dtype === "bf16") bf16ToF32(E.data.subarray(id * d, (id + 1) * d), row);
      else if (E.dtype === "f16")
        row.set(
          asF32({ dtype: "f16", data: E.data.subarray(id * d, (id + 1) * d) }, () => new Float32Array(d)),
        );
      else throw new Error("native model: an NF4 embedding is not supported");
    }
    return out;
  }

  private headName(): string {
    return this.config.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight";
  }

  private context(b: TokenBatch, training: boolean, seed: number, cache: KvCache | null): Ctx {
    const past = cache?.length ?? 0;
    const positions = b.positions ?? defaultPositions(b, past);
    const { cos, sin } = ropeTables(this.config, positions);
    return {
      B: b.batch,
      S: b.seqLen,
      T: b.batch * b.seqLen,
      cos,
      sin,
      mask: b.segments && !cache ? attentionMask(b, 0, 0) : null,
      training,
      seed,
      cache,
    };
  }

  /**
   * Loss summed over the trained tokens of `targets` (already shifted; -100 = not trained), and with
   * `grad` its gradients added to the trainables' sums. `recompute` keeps only each layer's input.
   */
  pass(
    b: TokenBatch,
    targets: Int32Array,
    opts: { grad: boolean; training: boolean; seed: number; recompute: boolean },
  ): PassResult {
    const cfg = this.config;
    const d = cfg.hiddenSize;
    const ctx = this.context(b, opts.training, opts.seed, null);
    const { T } = ctx;
    const rows: number[] = [];
    for (let t = 0; t < T; t++) if (targets[t] !== -100) rows.push(t);
    if (rows.length === 0) return { lossSum: 0, trainedTokens: 0 };
    let x = this.embed(b.ids);
    const saved: (LayerSaved | Float32Array)[] = [];
    for (let l = 0; l < cfg.numLayers; l++) {
      const keep = opts.grad && !opts.recompute;
      const r = this.layer(l, x, ctx, keep);
      if (opts.grad) saved.push(r.saved ?? x);
      x = r.out;
    }
    const fin = this.norm(x, "model.norm.weight", T);
    const dh = opts.grad ? new Float32Array(T * d) : null;
    const lossSum = this.crossEntropy(fin.y, rows, targets, dh);
    if (!dh) return { lossSum, trainedTokens: rows.length };
    let dx: Float32Array = new Float32Array(T * d);
    this.normBack(dh, x, fin.rstd, "model.norm.weight", dx, T);
    for (let l = cfg.numLayers - 1; l >= 0; l--) {
      let s = saved[l]!;
      if (s instanceof Float32Array) s = this.layer(l, s, ctx, true).saved!;
      saved[l] = new Float32Array(0);
      dx = this.layerBack(l, s, dx, ctx);
    }
    const gE = this.train.baseGrads.get("model.embed_tokens.weight");
    if (gE)
      for (let t = 0; t < T; t++) {
        const at = b.ids[t]! * d;
        for (let j = 0; j < d; j++) gE[at + j]! += dx[t * d + j]!;
      }
    return { lossSum, trainedTokens: rows.length };
  }

  /** Chunked over trained rows: logits of a chunk only, then its softmax gradient into dh and the head's sum. */
  private crossEntropy(
    h: Float32Array,
    rows: number[],
    targets: Int32Array,
    dh: Float32Array | null,
  ): number {
    const d = this.config.hiddenSize;
    const head = this.w(this.headName());
    const V = head.shape[0]!;
    const Wh =
      head.stored.dtype === "f32" ? head.stored.data : asF32(head.stored, () => new Float32Array(V * d));
    const gH = dh ? this.train.baseGrads.get(this.headName()) : undefined;
    const chunk = Math.max(1, Math.min(rows.length, Math.floor(CE_CHUNK_VALUES / V)));
    let loss = 0;
    for (let c0 = 0; c0 < rows.length; c0 += chunk) {
      const n = Math.min(chunk, rows.length - c0);
      const hs = new Float32Array(n * d);
      const tg = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const t = rows[c0 + i]!;
        hs.set(h.subarray(t * d, (t + 1) * d), i * d);
        tg[i] = targets[t]!;
      }
      const logits = new Float32Array(n * V);
      this.mm(hs, Wh, logits, n, V, d, false, true);
      loss += this.addon.crossEntropy(logits, tg, n, V, dh !== null);
      if (!dh) continue;
      const dhs = new Float32Array(n * d);
      this.mm(logits, Wh, dhs, n, d, V, false, false);
      for (let i = 0; i < n; i++) dh.set(dhs.subarray(i * d, (i + 1) * d), rows[c0 + i]! * d);
      if (gH) this.mmAdd(logits, hs, gH, V, d, n, true, false);
    }
    return loss;
  }

  /** A LoRA pair's merged delta scale * B A in the linear's HF layout [out, in]. */
  loraDelta(pair: LoraPair, inF: number, outF: number): Float32Array {
    const D = new Float32Array(outF * inF);
    this.mm(pair.bt, pair.at, D, outF, inF, pair.rank, true, true);
    const s = this.train.loraScale;
    for (let i = 0; i < D.length; i++) D[i]! *= s;
    return D;
  }

  newCache(maxLen: number): KvCache {
    const w = this.config.numKvHeads * this.config.headDim;
    const L = this.config.numLayers;
    return {
      length: 0,
      keys: Array.from({ length: L }, () => new Float32Array(maxLen * w)),
      values: Array.from({ length: L }, () => new Float32Array(maxLen * w)),
    };
  }

  /** Logits [V] of the last of `ids`, continuing the cache (one sequence). */
  nextLogits(ids: readonly number[], cache: KvCache): Float32Array {
    const d = this.config.hiddenSize;
    const b: TokenBatch = { batch: 1, seqLen: ids.length, ids: Int32Array.from(ids) };
    const ctx = this.context(b, false, 0, cache);
    let x = this.embed(b.ids);
    for (let l = 0; l < this.config.numLayers; l++) x = this.layer(l, x, ctx, false).out;
    cache.length += ids.length;
    const last = x.subarray((ids.length - 1) * d);
    const fin = this.norm(last, "model.norm.weight", 1);
    const head = this.w(this.headName());
    const V = head.shape[0]!;
    const logits = new Float32Array(V);
    const Wh = asF32(head.stored, () => new Float32Array(V * d));
    this.mm(fin.y, Wh, logits, 1, V, d, false, true);
    return logits;
  }
}
