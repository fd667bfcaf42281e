// The llama-family decoder (llama, qwen2, mistral) on the cuda engine's ops: the native engine's forward
// and hand-written backward (engines/native/model.ts), with every weight resident in the backend's
// buffers: frozen matrices bf16 (QLoRA's NF4, dequantized per linear into a bf16 scratch), norms and
// biases f32, trainable tensors f32 with a bf16 copy the GEMMs read (refreshed after each update).
// GEMMs take bf16 operands with f32 accumulation (cuBLASLt); activations and gradients are f32.

import { dropoutMaskValues } from "../../model/adapters/lora.ts";
import { subSeed } from "../../model/adapters/random.ts";
import { defaultPositions, type TokenBatch } from "../../model/batch.ts";
import { type LinearModule, linearModules, type ModelConfig } from "../../model/config.ts";
import type { NativeMethod, TrainParam } from "../native/methods.ts";
import type { PrefixTable } from "../native/model.ts";
import type { BaseTensor } from "../native/weights.ts";
import { toF32 } from "../native/weights.ts";
import type { Buf, CudaOps } from "./ops.ts";
import { profilePhase } from "./profile.ts";
import { RopeCache } from "./rope-tables.ts";

const numelOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

interface Nf4Buf {
  codes: Buf;
  absmax: Buf | null;
  absmaxCodes: Buf | null;
  absmaxScales: Buf | null;
  offset: number;
  blockSize: number;
  n: number;
}

/** A resident tensor: f32 values (1-D, or trainable), a bf16 copy for GEMMs/gathers, or NF4 codes. */
interface Resident {
  shape: number[];
  f32: Buf | null;
  bf16: Buf | null;
  nf4: Nf4Buf | null;
}

/** A trainable tensor on the backend: values, gradient sum, AdamW moments and a bf16 copy (2-D). */
export interface DevParam {
  param: TrainParam;
  data: Buf;
  grad: Buf;
  m: Buf;
  v: Buf;
  shadow: Buf | null;
}

/**
 * Trainable rows of chosen token ids (native/model.ts TokenRows) on the backend: their f32 values train,
 * and their bf16 copies are written into the frozen tables' rows, so the gather and the head's GEMM
 * read them as any trained matrix's bf16 copy (refreshRows).
 */
interface TokenRowsDev {
  ids: Int32Array;
  /** [V]: a vocabulary id's row in `embed`/`head`, -1 when it does not train. */
  rowOf: Int32Array;
  embed: DevParam;
  /** An untied lm_head's rows (null when tied: the embedding's rows are the head's). */
  head: DevParam | null;
  /**
   * [V, width] bf16 one-hot (width: n rounded up to 8, so GEMM leading dimensions stay 16-byte aligned):
   * a GEMM with it picks the trained ids' columns of the head's logit gradient.
   */
  pick: Buf;
  width: number;
}

interface LoraDev {
  at: DevParam;
  bt: DevParam;
  rank: number;
  /** DoRA (null: plain LoRA): the magnitude [O], and per step m/n and 1/n with n = ‖W + s·B·A‖ per row. */
  dora: { magnitude: DevParam; factor: Buf; invNorm: Buf } | null;
}

interface Ctx {
  B: number;
  S: number;
  T: number;
  cos: Buf;
  sin: Buf;
  seg: Buf | null;
  cache: DevCache | null;
  /** Prefix tuning: this pass's [P, L * 2 * KV * hd] table of keys and values, its gradient sum (training), P. */
  prefix: Buf | null;
  dPrefix: Buf | null;
  P: number;
  /** LoRA dropout's step seed (training passes with a dropout rate; null: none). */
  dropSeed: number | null;
}

/** Per-layer keys and values seen so far (post-RoPE), [capacity, KV * hd] each; one sequence. */
export interface DevCache {
  length: number;
  capacity: number;
  /** Prefix positions at the start (not counted against the model's context). */
  prefix: number;
  keys: Buf[];
  values: Buf[];
}

interface LayerSaved {
  x: Buf;
  rstd1: Buf;
  h1: Buf;
  q: Buf;
  k: Buf;
  v: Buf;
  attn: Buf;
  lse: Buf;
  x1: Buf;
  rstd2: Buf;
  h2: Buf;
  g: Buf;
  u: Buf;
  act: Buf;
  /** LoRA's x A^T per module (f32). */
  xa: Map<string, Buf>;
}

/** Rows of logits the loss holds at once (bounds the [rows, V] buffers). */
const LOGIT_ELEMENTS = 1 << 26;

export class CudaModel {
  readonly modules: LinearModule[];
  readonly params: DevParam[];
  private readonly w = new Map<string, Resident>();
  private readonly lora = new Map<string, LoraDev>();
  private readonly baseGrad = new Map<string, Buf>();
  private readonly loraScale: number;
  private readonly loraDropout: number;
  /** Prefix tuning's table (its small reparameterization MLP runs on the host) and its parameters. */
  private readonly prefix: PrefixTable | null;
  private readonly prefixParams: DevParam[];
  private readonly rows: TokenRowsDev | null = null;
  /** bf16 scratch for a dequantized NF4 linear (the largest one). */
  private nf4Scratch: Buf | null = null;
  /** Every buffer the model holds between passes (freed by dispose). */
  private readonly held: Buf[] = [];
  /** The last pass's RoPE tables, reused while positions repeat. */
  private readonly rope: RopeCache;

  constructor(
    private readonly ops: CudaOps,
    readonly config: ModelConfig,
    base: Map<string, BaseTensor>,
    method: NativeMethod,
  ) {
    this.modules = linearModules(config);
    this.rope = new RopeCache(ops, config);
    const trained = new Set(method.trainables.baseGrads.keys());
    this.params = method.params.map((p) => this.devParam(p, trained.has(p.name) && p.shape.length === 2));
    const byName = new Map(this.params.map((d) => [d.param.name, d]));
    for (const t of base.values()) {
      const dp = byName.get(t.name);
      if (dp) {
        this.w.set(t.name, { shape: t.shape, f32: dp.data, bf16: dp.shadow, nf4: null });
        this.baseGrad.set(t.name, dp.grad);
      } else this.w.set(t.name, this.resident(t));
    }
    for (const { layer, module, pair } of method.loraPairs) {
      const find = (data: Float32Array) => this.params.find((d) => d.param.data === data)!;
      const O = module.outFeatures;
      this.lora.set(`${layer}/${module.name}`, {
        at: find(pair.at),
        bt: find(pair.bt),
        rank: pair.rank,
        dora: pair.magnitude
          ? {
              magnitude: find(pair.magnitude),
              factor: this.hold(ops.alloc("f32", O)),
              invNorm: this.hold(ops.alloc("f32", O)),
            }
          : null,
      });
    }
    this.loraScale = method.trainables.loraScale;
    this.loraDropout = method.trainables.loraDropout;
    this.prefix = method.trainables.prefix;
    this.prefixParams = this.params.filter((d) => d.param.name.startsWith("prefix."));
    let biggest = 0;
    for (const r of this.w.values()) if (r.nf4) biggest = Math.max(biggest, r.nf4.n);
    if (biggest) this.nf4Scratch = this.hold(ops.alloc("bf16", biggest));
    const rows = method.trainables.rows;
    if (rows) {
      for (const name of new Set(["model.embed_tokens.weight", this.headName()]))
        if (!this.res(name).bf16 || this.baseGrad.has(name))
          throw new Error(`cuda model: token rows train over "${name}", which is not a frozen bf16 table`);
      const find = (data: Float32Array) => this.params.find((d) => d.param.data === data)!;
      const V = this.res(this.headName()).shape[0]!;
      const width = Math.ceil(rows.ids.length / 8) * 8;
      const onehot = new Uint16Array(V * width);
      // 0x3f80: 1.0 in bf16.
      rows.ids.forEach((id, r) => {
        onehot[id * width + r] = 0x3f80;
      });
      this.rows = {
        ids: rows.ids,
        rowOf: rows.rowOf,
        embed: find(rows.embed),
        head: rows.head ? find(rows.head) : null,
        pick: this.upload("bf16", onehot),
        width,
      };
      this.refreshRows();
    }
    this.refreshDora();
  }

  /**
   * DoRA's row norms n = ‖W + s·B·A‖ of each adapted linear (a constant within a step, as PEFT detaches
   * it), then 1/n and m/n: the weight gathered to f32 (an NF4 one dequantized first), s·Bᵀ·Aᵀ added by a
   * GEMM, n from RMSNorm's 1/rms with eps 0 (n = sqrt(I)·rms), the products through the RoPE kernel.
   */
  private refreshDora(): void {
    const ops = this.ops;
    for (const [key, pair] of this.lora) {
      const dora = pair.dora;
      if (!dora) continue;
      const [l, name] = key.split("/") as [string, string];
      const m = this.modules.find((x) => x.name === name)!;
      const O = m.outFeatures;
      const I = m.inFeatures;
      const ids = ops.alloc("i32", O);
      ops.upload(
        ids,
        Int32Array.from({ length: O }, (_, i) => i),
      );
      const w = ops.alloc("f32", O * I);
      ops.embeddingGather(this.operand(`model.layers.${l}.${m.path}.weight`), ids, w, O, I);
      ops.gemm(true, true, O, I, pair.rank, pair.bt.data, pair.at.data, w, this.loraScale, 1);
      const ones = ops.alloc("f32", I);
      ops.upload(ones, new Float32Array(I).fill(1));
      const y = ops.alloc("f32", O * I);
      const rstd = ops.alloc("f32", O);
      ops.rmsNormForward(w, ones, y, rstd, O, I, 0);
      this.freeAll(ids, w, ones, y);
      ops.zero(dora.invNorm);
      ops.axpy(dora.invNorm, rstd, 1 / Math.sqrt(I));
      ops.free(rstd);
      const f = this.masked(dora.magnitude.data, dora.invNorm, 1, O);
      ops.copy(dora.factor, f);
      ops.free(f);
    }
  }

  /** x [T, O] with column j times v[j]: v spread to [T, O] by a rank-1 GEMM, then the elementwise product. */
  private scaleColumns(x: Buf, v: Buf, T: number, O: number): Buf {
    const ops = this.ops;
    const ones = ops.alloc("f32", T);
    ops.upload(ones, new Float32Array(T).fill(1));
    const table = ops.scratch("f32", T * O);
    ops.gemm(false, false, T, O, 1, ones, v, table, 1, 0);
    const out = this.masked(x, table, T, O);
    this.freeAll(ones, table);
    return out;
  }

  /** The trained token rows' bf16 copies into their rows of the frozen embedding and head tables. */
  private refreshRows(): void {
    const rows = this.rows;
    if (!rows) return;
    const ops = this.ops;
    const d = this.config.hiddenSize;
    const into = (p: DevParam, table: string) => {
      const t = this.res(table).bf16!;
      rows.ids.forEach((id, r) => {
        ops.toBf16(ops.view(p.data, r * d, d), ops.view(t, id * d, d));
      });
    };
    into(rows.embed, "model.embed_tokens.weight");
    if (rows.head) into(rows.head, "lm_head.weight");
  }

  /** The embedding rows' gradient: dx of the tokens whose id trains, summed per row (a scatter into n + 1 rows, the last for the rest). */
  private rowsEmbedBackward(dx: Buf, ids: Int32Array): void {
    const rows = this.rows!;
    const ops = this.ops;
    const d = this.config.hiddenSize;
    const n = rows.ids.length;
    const local = Int32Array.from(ids, (id) => {
      const r = rows.rowOf[id]!;
      return r >= 0 ? r : n;
    });
    const li = ops.alloc("i32", local.length);
    ops.upload(li, local);
    const sums = ops.alloc("f32", (n + 1) * d);
    ops.embeddingScatterAdd(dx, li, sums, local.length, d);
    ops.axpy(rows.embed.grad, ops.view(sums, 0, n * d), 1);
    this.freeAll(li, sums);
  }

  private hold(b: Buf): Buf {
    this.held.push(b);
    return b;
  }

  private upload(
    dtype: "f32" | "bf16" | "u8" | "i8",
    data: Float32Array | Uint16Array | Uint8Array | Int8Array,
  ) {
    const b = this.hold(this.ops.alloc(dtype, data.length));
    this.ops.upload(b, data);
    return b;
  }

  private devParam(p: TrainParam, matrix: boolean): DevParam {
    const ops = this.ops;
    const n = p.data.length;
    const data = this.upload("f32", p.data);
    // Trained base matrices feed bf16 GEMMs and gathers: a bf16 copy. LoRA factors (f32 GEMMs), norms and biases: none.
    const shadow = matrix ? this.hold(ops.alloc("bf16", n)) : null;
    if (shadow) ops.toBf16(data, shadow);
    const f32 = () => this.hold(ops.alloc("f32", n));
    return { param: p, data, grad: f32(), m: f32(), v: f32(), shadow };
  }

  private resident(t: BaseTensor): Resident {
    const s = t.stored;
    if (s.dtype === "nf4") {
      const q = s.q;
      return {
        shape: t.shape,
        f32: null,
        bf16: null,
        nf4: {
          codes: this.upload("u8", q.codes),
          absmax: q.absmax ? this.upload("f32", q.absmax) : null,
          absmaxCodes: q.absmaxCodes ? this.upload("i8", q.absmaxCodes) : null,
          absmaxScales: q.absmaxScales ? this.upload("f32", q.absmaxScales) : null,
          offset: q.absmaxOffset,
          blockSize: q.blockSize,
          n: q.length,
        },
      };
    }
    if (t.shape.length === 1)
      return { shape: t.shape, f32: this.upload("f32", toF32(s)), bf16: null, nf4: null };
    if (s.dtype === "bf16")
      return { shape: t.shape, f32: null, bf16: this.upload("bf16", s.data), nf4: null };
    const f = this.ops.alloc("f32", numelOf(t.shape));
    this.ops.upload(f, toF32(s));
    const b = this.hold(this.ops.alloc("bf16", f.n));
    this.ops.toBf16(f, b);
    this.ops.free(f);
    return { shape: t.shape, f32: null, bf16: b, nf4: null };
  }

  private res(name: string): Resident {
    const r = this.w.get(name);
    if (!r) throw new Error(`cuda model: no tensor "${name}"`);
    return r;
  }

  private f32(name: string): Buf {
    const r = this.res(name);
    if (!r.f32) throw new Error(`cuda model: "${name}" is not float32`);
    return r.f32;
  }

  /** A matrix as a GEMM operand (bf16): resident, or NF4 dequantized into the scratch. */
  private operand(name: string): Buf {
    const r = this.res(name);
    if (r.bf16) return r.bf16;
    if (r.nf4 && this.nf4Scratch) {
      const q = r.nf4;
      const out = this.ops.view(this.nf4Scratch, 0, q.n);
      this.ops.nf4Dequantize(q.codes, q.absmax, q.absmaxCodes, q.absmaxScales, q.offset, q.blockSize, out);
      return out;
    }
    throw new Error(`cuda model: "${name}" has no GEMM operand`);
  }

  /** A bf16 copy of f32 `x` (a temporary: free it). */
  private bf(x: Buf): Buf {
    const b = this.ops.scratch("bf16", x.n);
    this.ops.toBf16(x, b);
    return b;
  }

  private freeAll(...bufs: (Buf | null | undefined)[]): void {
    for (const b of bufs) if (b) this.ops.free(b);
  }

  private norm(x: Buf, name: string, rows: number): { y: Buf; rstd: Buf } {
    const d = this.config.hiddenSize;
    const y = this.ops.scratch("f32", rows * d);
    const rstd = this.ops.scratch("f32", rows);
    this.ops.rmsNormForward(x, this.f32(name), y, rstd, rows, d, this.config.rmsNormEps);
    return { y, rstd };
  }

  /**
   * dx += d norm(x)/dx dy (`write`: dx = it, no temporary and no add); the weight's gradient is summed
   * when it trains.
   */
  private normBack(dy: Buf, x: Buf, rstd: Buf, name: string, dx: Buf, rows: number, write = false): void {
    const tmp = write ? dx : this.ops.scratch("f32", dx.n);
    this.ops.rmsNormBackward(
      dy,
      x,
      this.f32(name),
      rstd,
      tmp,
      this.baseGrad.get(name) ?? null,
      rows,
      this.config.hiddenSize,
    );
    if (write) return;
    this.ops.axpy(dx, tmp, 1);
    this.ops.free(tmp);
  }

  /**
   * LoRA dropout's mask of one linear's input [T, I] (0 or 1/keep), the tfjs engine's: drawn on the host
   * from the step's seed, the layer and the module (native/model.ts maskSeed), again in backward.
   */
  private dropMask(seed: number, l: number, m: LinearModule, T: number): Buf {
    const n = T * m.inFeatures;
    const values = dropoutMaskValues(n, this.loraDropout, subSeed(seed, l, this.modules.indexOf(m)));
    const mask = this.ops.alloc("f32", n);
    this.ops.upload(mask, values);
    return mask;
  }

  /**
   * out = x ⊙ mask ([T, I] each; out distinct from x), through the RoPE kernel: with a single head of
   * width I, `mask` as the cos table and zeros as the sin table, y = x·mask + partner·0 (exact).
   */
  private masked(x: Buf, mask: Buf, T: number, I: number): Buf {
    const ops = this.ops;
    const zeros = ops.alloc("f32", T * I);
    const out = ops.scratch("f32", T * I);
    ops.rope(x, mask, zeros, out, T, 1, I, false);
    ops.free(zeros);
    return out;
  }

  /** y = x W^T (+ b) (+ scale x_d A^T B^T, in f32; x_d = x under LoRA dropout's mask); `xb` is x in bf16. */
  private linear(
    l: number,
    m: LinearModule,
    x: Buf,
    xb: Buf,
    T: number,
    xa: Map<string, Buf> | null,
    dropSeed: number | null,
  ): Buf {
    const ops = this.ops;
    const p = `model.layers.${l}.${m.path}`;
    const O = m.outFeatures;
    const I = m.inFeatures;
    let y = ops.scratch("f32", T * O);
    ops.gemm(false, true, T, O, I, xb, this.operand(`${p}.weight`), y, 1, 0);
    const pair = this.lora.get(`${l}/${m.name}`);
    // DoRA scales x·Wᵀ without the bias: added after.
    if (m.bias && !pair?.dora) ops.addBias(y, this.f32(`${p}.bias`), T, O);
    if (pair) {
      const r = pair.rank;
      const a = ops.scratch("f32", T * r);
      if (dropSeed !== null && this.loraDropout > 0) {
        const mask = this.dropMask(dropSeed, l, m, T);
        const xd = this.masked(x, mask, T, I);
        ops.free(mask);
        ops.gemm(false, false, T, r, I, xd, pair.at.data, a, 1, 0);
        ops.free(xd);
      } else ops.gemm(false, false, T, r, I, x, pair.at.data, a, 1, 0);
      ops.gemm(false, false, T, O, r, a, pair.bt.data, y, this.loraScale, 1);
      if (xa) xa.set(m.name, a);
      else ops.free(a);
      if (pair.dora) {
        // y = (m/n)·z with z = x·Wᵀ + s·x·Aᵀ·Bᵀ, kept for the magnitude's gradient.
        const z = y;
        y = this.scaleColumns(z, pair.dora.factor, T, O);
        if (xa) xa.set(`${m.name}:z`, z);
        else ops.free(z);
        if (m.bias) ops.addBias(y, this.f32(`${p}.bias`), T, O);
      }
    }
    return y;
  }

  /**
   * dx += dy W (+ the LoRA path; `overwrite`: dx = it, dx's values unread); sums the weight, bias and LoRA
   * gradients of what trains. `xb` (x in bf16) is read only for a trained weight's gradient (trainedBf).
   */
  private linearBack(
    l: number,
    m: LinearModule,
    x: Buf,
    xb: Buf | null,
    dy: Buf,
    dx: Buf,
    T: number,
    s: LayerSaved,
    dropSeed: number | null,
    overwrite = false,
  ): void {
    const ops = this.ops;
    const p = `model.layers.${l}.${m.path}`;
    const I = m.inFeatures;
    const O = m.outFeatures;
    const pair = this.lora.get(`${l}/${m.name}`);
    const dora = pair?.dora ?? null;
    // DoRA: everything inside the scaling (base and adapter) sees dy·(m/n); the bias sees dy.
    const dyIn = dora ? this.scaleColumns(dy, dora.factor, T, O) : dy;
    const dyb = this.bf(dyIn);
    ops.gemm(false, false, T, I, O, dyb, this.operand(`${p}.weight`), dx, 1, overwrite ? 0 : 1);
    const gw = this.baseGrad.get(`${p}.weight`);
    if (gw) {
      if (!xb) throw new Error(`cuda model: ${p}.weight trains but its input's bf16 copy was not made`);
      ops.gemm(true, false, O, I, T, dyb, xb, gw, 1, 1);
    }
    const gb = m.bias ? this.baseGrad.get(`${p}.bias`) : undefined;
    if (gb) ops.biasGrad(gb, dy, T, O);
    if (dora) {
      // dm += Σ_t dy·z / n.
      const prod = this.masked(dy, s.xa.get(`${m.name}:z`)!, T, O);
      const sum = ops.alloc("f32", O);
      ops.biasGrad(sum, prod, T, O);
      const g = this.masked(sum, dora.invNorm, 1, O);
      ops.axpy(dora.magnitude.grad, g, 1);
      this.freeAll(prod, sum, g);
    }
    if (pair) {
      const r = pair.rank;
      const sc = this.loraScale;
      const a = s.xa.get(m.name)!;
      dy = dyIn;
      ops.gemm(true, false, r, O, T, a, dy, pair.bt.grad, sc, 1);
      const dxa = ops.scratch("f32", T * r);
      ops.gemm(false, true, T, r, O, dy, pair.bt.data, dxa, sc, 0);
      if (dropSeed !== null && this.loraDropout > 0) {
        // The mask drawn again: dA from x_d, and dx through the mask.
        const mask = this.dropMask(dropSeed, l, m, T);
        const xd = this.masked(x, mask, T, I);
        ops.gemm(true, false, I, r, T, xd, dxa, pair.at.grad, 1, 1);
        ops.free(xd);
        const dxd = ops.scratch("f32", T * I);
        ops.gemm(false, true, T, I, r, dxa, pair.at.data, dxd, 1, 0);
        const back = this.masked(dxd, mask, T, I);
        ops.axpy(dx, back, 1);
        this.freeAll(mask, dxd, back);
      } else {
        ops.gemm(true, false, I, r, T, x, dxa, pair.at.grad, 1, 1);
        ops.gemm(false, true, T, I, r, dxa, pair.at.data, dx, 1, 1);
      }
      ops.free(dxa);
    }
    ops.free(dyb);
    if (dora) ops.free(dyIn);
  }

  /** x [T, heads * hd] with RoPE (inverse: its transpose) into a new buffer; x is freed. */
  private roped(x: Buf, ctx: Ctx, heads: number, inverse: boolean): Buf {
    const y = this.ops.scratch("f32", x.n);
    this.ops.rope(x, ctx.cos, ctx.sin, y, ctx.T, heads, this.config.headDim, inverse);
    this.ops.free(x);
    return y;
  }

  /** x in bf16 when one of `mods`' weights of layer l trains (their gradient reads it), else null. */
  private trainedBf(l: number, mods: LinearModule[], x: Buf): Buf | null {
    const trains = mods.some((m) => this.baseGrad.has(`model.layers.${l}.${m.path}.weight`));
    return trains ? this.bf(x) : null;
  }

  private layer(l: number, x: Buf, ctx: Ctx, keep: boolean): { out: Buf; saved: LayerSaved | null } {
    const ops = this.ops;
    const cfg = this.config;
    const { B, S, T } = ctx;
    const H = cfg.numHeads;
    const KV = cfg.numKvHeads;
    const hd = cfg.headDim;
    const [mq, mk, mv, mo, mg, mu, md] = this.modules as [LinearModule, ...LinearModule[]];
    const pre = `model.layers.${l}`;
    const xa = keep ? new Map<string, Buf>() : null;
    const n1 = this.norm(x, `${pre}.input_layernorm.weight`, T);
    const h1b = this.bf(n1.y);
    const q0 = this.linear(l, mq, n1.y, h1b, T, xa, ctx.dropSeed);
    const k0 = this.linear(l, mk!, n1.y, h1b, T, xa, ctx.dropSeed);
    const v = this.linear(l, mv!, n1.y, h1b, T, xa, ctx.dropSeed);
    ops.free(h1b);
    // RoPE into new buffers: in place, the kernel would read a copy (device.cc makes one per call).
    const q = this.roped(q0, ctx, H, false);
    const k = this.roped(k0, ctx, KV, false);
    const attn = ops.alloc("f32", T * H * hd);
    const lse = ops.alloc("f32", B * H * S);
    let K = S;
    let kAll = k;
    let vAll = v;
    const cache = ctx.cache;
    if (!cache && ctx.prefix) {
      // Each row's keys: the layer's P prefix keys (no RoPE), then its own.
      const { P } = ctx;
      const w = KV * hd;
      const rowW = cfg.numLayers * 2 * w;
      K = P + S;
      kAll = ops.alloc("f32", B * K * w);
      vAll = ops.alloc("f32", B * K * w);
      for (let b = 0; b < B; b++) {
        for (let p = 0; p < P; p++) {
          const at = p * rowW + 2 * l * w;
          ops.copy(ops.view(kAll, (b * K + p) * w, w), ops.view(ctx.prefix, at, w));
          ops.copy(ops.view(vAll, (b * K + p) * w, w), ops.view(ctx.prefix, at + w, w));
        }
        ops.copy(ops.view(kAll, (b * K + P) * w, S * w), ops.view(k, b * S * w, S * w));
        ops.copy(ops.view(vAll, (b * K + P) * w, S * w), ops.view(v, b * S * w, S * w));
      }
      ops.free(k);
      ops.free(v);
    } else if (cache) {
      // This chunk's keys and values join the cache; its queries see all of it (K - S earlier keys first).
      const w = KV * hd;
      ops.copy(ops.view(cache.keys[l]!, cache.length * w, S * w), k);
      ops.copy(ops.view(cache.values[l]!, cache.length * w, S * w), v);
      K = cache.length + S;
      kAll = ops.view(cache.keys[l]!, 0, K * w);
      vAll = ops.view(cache.values[l]!, 0, K * w);
    }
    ops.attentionForward(q, kAll, vAll, ctx.seg, attn, lse, { B, S, K, H, KV, hd }, 1 / Math.sqrt(hd));
    const ab = this.bf(attn);
    const x1 = this.linear(l, mo!, attn, ab, T, xa, ctx.dropSeed);
    ops.free(ab);
    ops.axpy(x1, x, 1);
    const n2 = this.norm(x1, `${pre}.post_attention_layernorm.weight`, T);
    const h2b = this.bf(n2.y);
    const g = this.linear(l, mg!, n2.y, h2b, T, xa, ctx.dropSeed);
    const u = this.linear(l, mu!, n2.y, h2b, T, xa, ctx.dropSeed);
    ops.free(h2b);
    const act = ops.scratch("f32", g.n);
    ops.swigluForward(g, u, act, g.n);
    const actb = this.bf(act);
    const out = this.linear(l, md!, act, actb, T, xa, ctx.dropSeed);
    ops.free(actb);
    ops.axpy(out, x1, 1);
    // Saved keys and values: the row's own, or (prefix) the prefix's and its own together.
    const kept = cache ? { k, v } : { k: kAll, v: vAll };
    if (!keep) {
      this.freeAll(n1.y, n1.rstd, q, kept.k, kept.v, attn, lse, x1, n2.y, n2.rstd, g, u, act);
      return { out, saved: null };
    }
    const saved: LayerSaved = {
      x,
      rstd1: n1.rstd,
      h1: n1.y,
      q,
      k: kept.k,
      v: kept.v,
      attn,
      lse,
      x1,
      rstd2: n2.rstd,
      h2: n2.y,
      g,
      u,
      act,
      xa: xa!,
    };
    return { out, saved };
  }

  private layerBack(l: number, s: LayerSaved, dy: Buf, ctx: Ctx): Buf {
    const ops = this.ops;
    const cfg = this.config;
    const { B, S, T } = ctx;
    const H = cfg.numHeads;
    const KV = cfg.numKvHeads;
    const hd = cfg.headDim;
    const d = cfg.hiddenSize;
    const [mq, mk, mv, mo, mg, mu, md] = this.modules as [LinearModule, ...LinearModule[]];
    const pre = `model.layers.${l}`;
    // Base weights frozen (LoRA): x's bf16 copies are not needed, none made. The first product into each
    // gradient overwrites it (no zeroed buffer, no add).
    const dact = ops.scratch("f32", s.act.n);
    const actb = this.trainedBf(l, [md!], s.act);
    this.linearBack(l, md!, s.act, actb, dy, dact, T, s, ctx.dropSeed, true);
    this.freeAll(actb);
    const dg = ops.scratch("f32", s.g.n);
    const du = ops.scratch("f32", s.u.n);
    ops.swigluBackward(dact, s.g, s.u, dg, du, s.g.n);
    ops.free(dact);
    const dh2 = ops.scratch("f32", T * d);
    const h2b = this.trainedBf(l, [mg!, mu!], s.h2);
    this.linearBack(l, mg!, s.h2, h2b, dg, dh2, T, s, ctx.dropSeed, true);
    this.linearBack(l, mu!, s.h2, h2b, du, dh2, T, s, ctx.dropSeed);
    this.freeAll(h2b, dg, du);
    const dx1 = ops.scratch("f32", T * d);
    this.normBack(dh2, s.x1, s.rstd2, `${pre}.post_attention_layernorm.weight`, dx1, T, true);
    ops.axpy(dx1, dy, 1);
    ops.free(dh2);
    const dattn = ops.scratch("f32", T * H * hd);
    const ab = this.trainedBf(l, [mo!], s.attn);
    this.linearBack(l, mo!, s.attn, ab, dx1, dattn, T, s, ctx.dropSeed, true);
    this.freeAll(ab);
    const dq = ops.alloc("f32", s.q.n);
    let dk = ops.alloc("f32", s.k.n);
    let dv = ops.alloc("f32", s.v.n);
    const w = KV * hd;
    const K = s.k.n / (B * w);
    const dims = { B, S, K, H, KV, hd };
    ops.attentionBackward(s.q, s.k, s.v, ctx.seg, s.attn, s.lse, dattn, dq, dk, dv, dims, 1 / Math.sqrt(hd));
    ops.free(dattn);
    if (K > S) {
      // Split off the prefix keys' gradients into the table's (summed over rows).
      const P = K - S;
      const rowW = cfg.numLayers * 2 * w;
      const own = (g: Buf, off: number) => {
        const out = ops.alloc("f32", B * S * w);
        for (let b = 0; b < B; b++) {
          ops.copy(ops.view(out, b * S * w, S * w), ops.view(g, (b * K + P) * w, S * w));
          if (ctx.dPrefix)
            for (let p = 0; p < P; p++)
              ops.axpy(
                ops.view(ctx.dPrefix, p * rowW + 2 * l * w + off, w),
                ops.view(g, (b * K + p) * w, w),
                1,
              );
        }
        ops.free(g);
        return out;
      };
      dk = own(dk, 0);
      dv = own(dv, w);
    }
    const dqr = this.roped(dq, ctx, H, true);
    const dkr = this.roped(dk, ctx, KV, true);
    const dh1 = ops.scratch("f32", T * d);
    const h1b = this.trainedBf(l, [mq, mk!, mv!], s.h1);
    this.linearBack(l, mq, s.h1, h1b, dqr, dh1, T, s, ctx.dropSeed, true);
    this.linearBack(l, mk!, s.h1, h1b, dkr, dh1, T, s, ctx.dropSeed);
    this.linearBack(l, mv!, s.h1, h1b, dv, dh1, T, s, ctx.dropSeed);
    this.freeAll(h1b, dqr, dkr, dv);
    this.normBack(dh1, s.x, s.rstd1, `${pre}.input_layernorm.weight`, dx1, T);
    ops.free(dh1);
    return dx1;
  }

  private freeSaved(s: LayerSaved): void {
    this.freeAll(s.rstd1, s.h1, s.q, s.k, s.v, s.attn, s.lse, s.x1, s.rstd2, s.h2, s.g, s.u, s.act);
    for (const b of s.xa.values()) this.ops.free(b);
  }

  private headName(): string {
    return this.config.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight";
  }

  private context(
    b: TokenBatch,
    ids: Buf,
    cache: DevCache | null = null,
    grad = false,
    dropSeed: number | null = null,
  ): Ctx & { ids: Buf } {
    const P = this.prefix?.virtualTokens ?? 0;
    // Positions continue after the prefix, as the tfjs engine's.
    const positions = b.positions ?? defaultPositions(b, cache ? cache.length : P);
    const { cos, sin } = this.rope.tables(positions);
    const up = (a: Float32Array) => {
      const buf = this.ops.alloc("f32", a.length);
      this.ops.upload(buf, a);
      return buf;
    };
    let seg: Buf | null = null;
    if (b.segments) {
      seg = this.ops.alloc("i32", b.segments.length);
      this.ops.upload(seg, b.segments);
    }
    const prefix = !cache && this.prefix ? up(this.prefix.forward()) : null;
    const dPrefix = prefix && grad ? this.ops.alloc("f32", prefix.n) : null;
    return {
      B: b.batch,
      S: b.seqLen,
      T: b.batch * b.seqLen,
      cos,
      sin,
      seg,
      ids,
      cache,
      prefix,
      dPrefix,
      P: prefix ? P : 0,
      dropSeed,
    };
  }

  /** The prefix table's gradient, through its host-side MLP, into the prefix parameters' sums. */
  private prefixBackward(dPrefix: Buf): void {
    this.prefix!.backward(this.ops.download(dPrefix) as Float32Array);
    for (const d of this.prefixParams) {
      const tmp = this.ops.alloc("f32", d.grad.n);
      this.ops.upload(tmp, d.param.grad);
      this.ops.axpy(d.grad, tmp, 1);
      this.ops.free(tmp);
      d.param.grad.fill(0);
    }
  }

  /** Embedding rows of the batch's ids, [T, d] f32. */
  private embed(b: TokenBatch): { x: Buf; ids: Buf } {
    const d = this.config.hiddenSize;
    const table = this.res("model.embed_tokens.weight");
    const V = table.shape[0]!;
    for (const id of b.ids)
      if (id < 0 || id >= V) throw new RangeError(`token id ${id} is outside the embedding (${V} rows)`);
    const ids = this.ops.alloc("i32", b.ids.length);
    this.ops.upload(ids, b.ids);
    const x = this.ops.scratch("f32", b.ids.length * d);
    this.ops.embeddingGather(this.operand("model.embed_tokens.weight"), ids, x, b.ids.length, d);
    return { x, ids };
  }

  /**
   * Loss summed over the trained tokens of `targets` (shifted; -100 = not trained), and with `grad` its
   * gradients added to the trainables' sums. `recompute` keeps only each layer's input.
   */
  pass(
    b: TokenBatch,
    targets: Int32Array,
    opts: {
      grad: boolean;
      recompute: boolean;
      /** Added to the input embeddings [T, d] before the first layer (NEFTune's noise). */
      noise?: Float32Array;
      /** A training pass's seed: LoRA dropout's masks are drawn from it (none without). */
      seed?: number;
    },
  ): { lossSum: number; trainedTokens: number } {
    const ops = this.ops;
    const cfg = this.config;
    const d = cfg.hiddenSize;
    let trainedTokens = 0;
    for (const t of targets) if (t !== -100) trainedTokens++;
    if (trainedTokens === 0) return { lossSum: 0, trainedTokens };
    const e = this.embed(b);
    const ctx = this.context(b, e.ids, null, opts.grad, opts.seed ?? null);
    const { T } = ctx;
    // Every upload (each waits for the stream) before the layers: none in the middle of the step.
    const tg = ops.alloc("i32", T);
    ops.upload(tg, targets);
    let x = e.x;
    if (opts.noise) {
      const noise = ops.alloc("f32", opts.noise.length);
      ops.upload(noise, opts.noise);
      ops.axpy(x, noise, 1);
      ops.free(noise);
    }
    profilePhase("embed + uploads");
    const saved: (LayerSaved | Buf)[] = [];
    for (let l = 0; l < cfg.numLayers; l++) {
      const r = this.layer(l, x, ctx, opts.grad && !opts.recompute);
      if (opts.grad) saved.push(r.saved ?? x);
      else ops.free(x);
      x = r.out;
    }
    profilePhase("layers forward");
    const fin = this.norm(x, "model.norm.weight", T);
    const dh = opts.grad ? ops.scratch("f32", T * d) : null;
    const rowLoss = this.headLoss(fin.y, tg, T, dh);
    let dx: Buf | null = null;
    if (dh) {
      dx = ops.scratch("f32", T * d);
      this.normBack(dh, x, fin.rstd, "model.norm.weight", dx, T, true);
      ops.free(dh);
    }
    this.freeAll(fin.y, fin.rstd, x);
    profilePhase("final norm + lm head + loss");
    if (dx) {
      for (let l = cfg.numLayers - 1; l >= 0; l--) {
        let s = saved[l]!;
        // Gradient checkpointing: the layer runs again from its input.
        if (!("rstd1" in s)) {
          const again = this.layer(l, s, ctx, true);
          ops.free(again.out);
          s = again.saved!;
        }
        const next = this.layerBack(l, s, dx, ctx);
        this.freeSaved(s);
        ops.free(dx);
        ops.free(s.x);
        dx = next;
      }
      profilePhase("layers backward");
      const gE = this.baseGrad.get("model.embed_tokens.weight");
      if (gE) ops.embeddingScatterAdd(dx, e.ids, gE, T, d);
      if (this.rows) this.rowsEmbedBackward(dx, b.ids);
      ops.free(dx);
      if (ctx.dPrefix) this.prefixBackward(ctx.dPrefix);
    }
    // The loss read back once, at the end (summed in double, row order).
    let lossSum = 0;
    for (const v of ops.download(rowLoss) as Float32Array) lossSum += v;
    this.freeAll(ctx.seg, e.ids, tg, rowLoss, ctx.prefix, ctx.dPrefix);
    profilePhase(opts.grad ? "embedding grads + loss read-back" : "loss read-back");
    return { lossSum, trainedTokens };
  }

  /**
   * The lm head's cross-entropy over row chunks (no [T, V] logits): each row's loss into the returned
   * [T] buffer (free it), read back by the caller; dh (when given, written whole) gets dLoss/dh.
   */
  private headLoss(h: Buf, tg: Buf, T: number, dh: Buf | null): Buf {
    const ops = this.ops;
    const d = this.config.hiddenSize;
    const name = this.headName();
    const V = this.res(name).shape[0]!;
    const W = this.operand(name);
    const gW = dh ? (this.baseGrad.get(name) ?? null) : null;
    const hb = this.bf(h);
    const rows = Math.max(1, Math.min(T, Math.floor(LOGIT_ELEMENTS / V)));
    const logits = ops.scratch("f32", rows * V);
    const gb = dh ? ops.scratch("bf16", rows * V) : null;
    const rowLoss = ops.scratch("f32", T);
    // Trained token rows: their columns of the logit gradient, [C, width], then dRows += picked^T h.
    const tr = dh ? this.rows : null;
    const w = tr ? tr.width : 0;
    const picked = tr ? ops.scratch("f32", rows * w) : null;
    const rowGrad = tr ? ops.alloc("f32", w * d) : null;
    for (let r0 = 0; r0 < T; r0 += rows) {
      const C = Math.min(rows, T - r0);
      const hc = ops.view(hb, r0 * d, C * d);
      const lg = ops.view(logits, 0, C * V);
      ops.gemm(false, true, C, V, d, hc, W, lg, 1, 0);
      ops.crossEntropyRows(lg, ops.view(tg, r0, C), C, V, 1, dh ? lg : null, ops.view(rowLoss, r0, C));
      if (dh && gb) {
        const g = ops.view(gb, 0, C * V);
        ops.toBf16(lg, g);
        ops.gemm(false, false, C, d, V, g, W, ops.view(dh, r0 * d, C * d), 1, 0);
        if (gW) ops.gemm(true, false, V, d, C, g, hc, gW, 1, 1);
        if (picked && rowGrad) {
          const pc = ops.view(picked, 0, C * w);
          ops.gemm(false, false, C, w, V, g, tr!.pick, pc, 1, 0);
          ops.gemm(true, false, w, d, C, pc, ops.view(h, r0 * d, C * d), rowGrad, 1, 1);
        }
      }
    }
    if (tr && rowGrad) ops.axpy((tr.head ?? tr.embed).grad, ops.view(rowGrad, 0, tr.ids.length * d), 1);
    this.freeAll(hb, logits, gb, picked, rowGrad);
    return rowLoss;
  }

  /** A KV cache for `capacity` positions (free it with freeCache). */
  /** A KV cache for `maxLen` positions after the prefix (whose keys and values it starts with). */
  newCache(maxLen: number): DevCache {
    const ops = this.ops;
    const w = this.config.numKvHeads * this.config.headDim;
    const L = this.config.numLayers;
    const P = this.prefix?.virtualTokens ?? 0;
    const capacity = P + maxLen;
    const make = () => Array.from({ length: L }, () => ops.alloc("f32", capacity * w));
    const cache: DevCache = { length: P, capacity, prefix: P, keys: make(), values: make() };
    if (this.prefix && P) {
      const host = this.prefix.forward();
      const table = ops.alloc("f32", host.length);
      ops.upload(table, host);
      const rowW = L * 2 * w;
      for (let l = 0; l < L; l++)
        for (let p = 0; p < P; p++) {
          const at = p * rowW + 2 * l * w;
          ops.copy(ops.view(cache.keys[l]!, p * w, w), ops.view(table, at, w));
          ops.copy(ops.view(cache.values[l]!, p * w, w), ops.view(table, at + w, w));
        }
      ops.free(table);
    }
    return cache;
  }

  freeCache(c: DevCache): void {
    for (const b of [...c.keys, ...c.values]) this.ops.free(b);
  }

  /**
   * Logits [V] of the last token of `ids` (one sequence): continuing `cache` (which they join), or with
   * no cache over `ids` as the whole sequence.
   */
  lastLogits(ids: readonly number[], cache: DevCache | null = null): Float32Array {
    const ops = this.ops;
    const d = this.config.hiddenSize;
    if (cache && cache.length + ids.length > cache.capacity)
      throw new RangeError("cuda model: the KV cache is full");
    const b: TokenBatch = { batch: 1, seqLen: ids.length, ids: Int32Array.from(ids) };
    const e = this.embed(b);
    const ctx = this.context(b, e.ids, cache);
    let x = e.x;
    for (let l = 0; l < this.config.numLayers; l++) {
      const r = this.layer(l, x, ctx, false);
      ops.free(x);
      x = r.out;
    }
    if (cache) cache.length += ids.length;
    const fin = this.norm(ops.view(x, (ids.length - 1) * d, d), "model.norm.weight", 1);
    const name = this.headName();
    const V = this.res(name).shape[0]!;
    const hb = this.bf(fin.y);
    const logits = ops.alloc("f32", V);
    ops.gemm(false, true, 1, V, d, hb, this.operand(name), logits, 1, 0);
    const out = ops.download(logits) as Float32Array;
    this.freeAll(x, fin.y, fin.rstd, hb, logits, ctx.seg, e.ids);
    return out;
  }

  /** Copies the resident trainable values back into the method's host arrays (for artefacts). */
  syncToHost(): void {
    for (const p of this.params) p.param.data.set(this.ops.download(p.data) as Float32Array);
  }

  /** Frees every resident buffer (the model is unusable after). */
  dispose(): void {
    this.rope.dispose();
    for (const b of this.held.splice(0)) this.ops.free(b);
  }

  /** Refreshes what is derived from the f32 values after they changed: bf16 copies, the prefix MLP's host values. */
  refreshShadows(): void {
    for (const p of this.params) if (p.shadow) this.ops.toBf16(p.data, p.shadow);
    this.refreshRows();
    this.refreshDora();
    for (const d of this.prefixParams) d.param.data.set(this.ops.download(d.data) as Float32Array);
  }
}
