// The Llama-family decoder (llama, qwen2, mistral) as transformers computes it, on tfjs.
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "./backend.ts";
import { attentionMask, defaultPositions, padRows, type TokenBatch } from "./batch.ts";
import { Checkpoint, writeCheckpoint } from "./checkpoint.ts";
import { type LinearModule, linearModules, type ModelConfig, readHfConfig, toHfConfig } from "./config.ts";
import type { StDtype } from "./dtype.ts";
import { resolveHubModel } from "./hub-cache.ts";
import { addLean, blockAttention, embedding, linear, reshapeLean } from "./kernels.ts";
import { nativeAttention } from "./native/attention.ts";
import { nativeRmsNorm, nativeRope, nativeSwiglu } from "./native/fused.ts";
import { nativeAddon } from "./native/load.ts";
import { ropeTables, rotateHalfMatrix } from "./rope.ts";
import type { TensorToWrite } from "./safetensors.ts";

export type LinearName = LinearModule["name"];

/** Adapter hooks; the methods themselves (LoRA, P-tuning v2) live elsewhere. */
export interface AdapterHooks {
  /** Added to a linear layer's output, e.g. LoRA's (x @ A @ B) * scale. x: [T, in]; return [T, out]. */
  linear?: (layer: number, module: LinearName, x: tf.Tensor2D) => tf.Tensor2D | null;
  /** Per-layer key/value prefixes (P-tuning v2), each [numKvHeads, P, headDim]; used as given (no RoPE). */
  prefix?: (layer: number) => { key: tf.Tensor3D; value: tf.Tensor3D } | null;
  /** Computes a frozen base linear's x @ W instead of the stored weight (NF4 base); the bias is still added. */
  base?: (layer: number, module: LinearName, x: tf.Tensor2D) => tf.Tensor2D | null;
  /**
   * Replaces the embedding table [V, d] or an untied lm_head (stored [d, V]) for one pass, e.g. with
   * trainable new-token rows; gradients flow through the returned tensor.
   */
  table?: (name: "model.embed_tokens.weight" | "lm_head.weight") => tf.Tensor2D | null;
}

/** Per-layer keys/values already seen (post-RoPE), [batch, numKvHeads, pastLen, headDim]. */
export interface KvCache {
  length: number;
  keys: (tf.Tensor4D | null)[];
  values: (tf.Tensor4D | null)[];
}

export interface ForwardOptions {
  hooks?: AdapterHooks;
  /** Variables whose gradients will be asked for (frozen linears then skip their weight gradient). */
  trainable?: ReadonlySet<tf.Variable>;
  cache?: KvCache;
  /** Recompute each layer in the backward pass instead of keeping its activations (training only). */
  recompute?: boolean;
  /** Plain tfjs ops with built-in gradients (batched-matmul attention, no fused kernels): a reference for tests. */
  batchedAttention?: boolean;
}

type SevenModules = [
  LinearModule,
  LinearModule,
  LinearModule,
  LinearModule,
  LinearModule,
  LinearModule,
  LinearModule,
];

/** A layer's linears in order: q, k, v, o, gate, up, down. */
function layerModules(cfg: ModelConfig): SevenModules {
  return linearModules(cfg) as SevenModules;
}

interface LayerContext {
  B: number;
  S: number;
  /** Prefix (P-tuning) and cached lengths before this batch's keys. */
  P: number;
  past: number;
  cos: Float32Array;
  sin: Float32Array;
  mask: Float32Array;
  /** No padding or packing: the mask is plain causal (prefix visible), which fused kernels know. */
  plainCausal: boolean;
  opts: ForwardOptions;
}

let modelSerial = 0;

/** HF name -> whether we store it transposed ([in, out] for linears, [d, V] for lm_head). */
function isTransposed(name: string): boolean {
  return name === "lm_head.weight" || /\.(self_attn|mlp)\.\w+_proj\.weight$/.test(name);
}

/** The tensors (HF names and shapes) a config needs, in checkpoint order. */
export function expectedTensors(cfg: ModelConfig): { name: string; shape: number[] }[] {
  const out: { name: string; shape: number[] }[] = [
    { name: "model.embed_tokens.weight", shape: [cfg.vocabSize, cfg.hiddenSize] },
  ];
  const mods = linearModules(cfg);
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}`;
    out.push({ name: `${p}.input_layernorm.weight`, shape: [cfg.hiddenSize] });
    for (const m of mods) {
      out.push({ name: `${p}.${m.path}.weight`, shape: [m.outFeatures, m.inFeatures] });
      if (m.bias) out.push({ name: `${p}.${m.path}.bias`, shape: [m.outFeatures] });
    }
    out.push({ name: `${p}.post_attention_layernorm.weight`, shape: [cfg.hiddenSize] });
  }
  out.push({ name: "model.norm.weight", shape: [cfg.hiddenSize] });
  if (!cfg.tieWordEmbeddings) out.push({ name: "lm_head.weight", shape: [cfg.vocabSize, cfg.hiddenSize] });
  return out;
}

export class Model {
  readonly id = ++modelSerial;
  private readonly rot: tf.Tensor2D;
  private disposed = false;

  /** `weights` by HF name; linear weights and lm_head are stored transposed (see `isTransposed`). */
  constructor(
    readonly config: ModelConfig,
    readonly weights: Map<string, tf.Variable>,
  ) {
    this.rot = tf.tensor2d(rotateHalfMatrix(config.headDim), [config.headDim, config.headDim]);
  }

  /** A weight by HF name (transposed layout for linears and lm_head). */
  w(name: string): tf.Variable {
    const v = this.weights.get(name);
    if (!v) throw new Error(`model has no weight "${name}"`);
    return v;
  }

  /** All parameters, by HF name. */
  parameters(): [string, tf.Variable][] {
    return [...this.weights.entries()];
  }

  /** RMSNorm by weight name; fused on the native tier. */
  private norm(x: tf.Tensor2D, name: string, opts: ForwardOptions): tf.Tensor2D {
    const w = this.w(name);
    if (nativeAddon() && !opts.batchedAttention) {
      const grad = opts.trainable !== undefined;
      return nativeRmsNorm(
        x,
        w as tf.Tensor as tf.Tensor1D,
        this.config.rmsNormEps,
        grad,
        grad && opts.trainable!.has(w),
      );
    }
    return this.rmsNorm(x, w as tf.Tensor as tf.Tensor1D);
  }

  private rmsNorm(x: tf.Tensor2D, w: tf.Tensor1D): tf.Tensor2D {
    const variance = tf.mean(tf.square(x), -1, true);
    return tf.mul(tf.mul(x, tf.rsqrt(tf.add(variance, this.config.rmsNormEps))), w);
  }

  private lin(layer: number, m: LinearModule, x: tf.Tensor2D, opts: ForwardOptions): tf.Tensor2D {
    const p = `model.layers.${layer}.${m.path}`;
    const b = m.bias ? (this.w(`${p}.bias`) as tf.Tensor as tf.Tensor1D) : null;
    const base = opts.hooks?.base?.(layer, m.name, x);
    let y: tf.Tensor2D;
    if (base) y = b ? tf.add(base, b) : base;
    else {
      const wt = this.w(`${p}.weight`) as tf.Tensor as tf.Tensor2D;
      if (!opts.trainable) y = b ? tf.add(tf.matMul(x, wt), b) : tf.matMul(x, wt);
      else y = linear(x, wt, b, opts.trainable.has(this.w(`${p}.weight`)));
    }
    const extra = opts.hooks?.linear?.(layer, m.name, x);
    if (!extra) return y;
    return opts.trainable ? addLean(y, extra) : tf.add(y, extra);
  }

  /** x * cos + rotate_half(x) * sin; x: [T, heads * hd]. */
  private rope(
    x: tf.Tensor2D,
    heads: number,
    cos: tf.Tensor3D,
    sin: tf.Tensor3D,
    grad: boolean,
  ): tf.Tensor2D {
    const [T] = x.shape;
    const hd = this.config.headDim;
    const rs = (t: tf.Tensor, shape: number[]): tf.Tensor =>
      grad ? reshapeLean(t, shape) : tf.reshape(t, shape);
    const flat = rs(x, [T * heads, hd]) as tf.Tensor2D;
    const rotated = grad ? linear(flat, this.rot, null, false) : tf.matMul(flat, this.rot);
    const x3 = rs(x, [T, heads, hd]);
    const a = tf.mul(x3, cos);
    const b = tf.mul(rs(rotated, [T, heads, hd]), sin);
    return rs(grad ? addLean(a, b) : tf.add(a, b), [T, heads * hd]) as tf.Tensor2D;
  }

  /**
   * Final hidden states (after the last norm), [batch * seqLen, hidden]. Call inside tf.tidy.
   * With a cache, the batch continues the cached sequences (single segment per row, no padding).
   */
  hidden(b: TokenBatch, opts: ForwardOptions = {}): tf.Tensor2D {
    if (this.disposed) throw new Error("model is disposed");
    const cfg = this.config;
    const { batch: B, seqLen: S } = b;
    const cache = opts.cache;
    const past = cache?.length ?? 0;
    const P = opts.hooks?.prefix?.(0)?.key.shape[1] ?? 0;
    const positions = b.positions ?? defaultPositions(b, P + past);
    const { cos, sin } = ropeTables(cfg, positions);
    const ctx: LayerContext = {
      B,
      S,
      P,
      past,
      cos,
      sin,
      mask: attentionMask(b, P, past),
      plainCausal: !b.segments && past === 0,
      opts,
    };
    const table = opts.hooks?.table?.("model.embed_tokens.weight") ?? null;
    const E = table ?? (this.w("model.embed_tokens.weight") as tf.Tensor as tf.Tensor2D);
    let x: tf.Tensor2D =
      opts.trainable && (table || opts.trainable.has(this.w("model.embed_tokens.weight")))
        ? embedding(E, b.ids)
        : tf.gather(E, tf.tensor1d(b.ids, "int32"));
    for (let l = 0; l < cfg.numLayers; l++) {
      const input = x;
      // Each layer in its own tidy: the gradient tape keeps its own copies of what it needs, so
      // the layer's intermediates can go now instead of at the end of the whole forward pass.
      x = tf.tidy(() =>
        opts.recompute && opts.trainable && !cache
          ? this.checkpointed(l, input, ctx)
          : this.layer(l, input, ctx),
      );
    }
    if (cache) cache.length = past + S;
    return this.norm(x, "model.norm.weight", opts);
  }

  /** One decoder layer: x [T, hidden] -> [T, hidden]. */
  private layer(l: number, x: tf.Tensor2D, ctx: LayerContext): tf.Tensor2D {
    const cfg = this.config;
    const { B, S, P, past, opts } = ctx;
    const T = B * S;
    const H = cfg.numHeads;
    const KV = cfg.numKvHeads;
    const G = H / KV;
    const hd = cfg.headDim;
    const K = P + past + S;
    const grad = opts.trainable !== undefined;
    const [q, kp, vp, o, gate, up, down] = layerModules(cfg);
    const cos = tf.tensor3d(ctx.cos, [T, 1, hd]);
    const sin = tf.tensor3d(ctx.sin, [T, 1, hd]);
    const pre = `model.layers.${l}`;
    if (nativeAddon() && !opts.batchedAttention && !opts.cache) return this.nativeLayer(l, x, ctx);
    const h = this.norm(x, `${pre}.input_layernorm.weight`, opts);
    const qs = this.rope(this.lin(l, q, h, opts), H, cos, sin, grad);
    const ks = this.rope(this.lin(l, kp, h, opts), KV, cos, sin, grad);
    const vs = this.lin(l, vp, h, opts);
    // [B, S, heads, hd] -> [B, heads, S, hd]
    // Training keeps no copies for reshapes and same-shape adds (see reshapeLean / addLean).
    const rs = (t: tf.Tensor, shape: number[]): tf.Tensor =>
      grad ? reshapeLean(t, shape) : tf.reshape(t, shape);
    const add = (a: tf.Tensor, b: tf.Tensor): tf.Tensor => (grad ? addLean(a, b) : tf.add(a, b));
    const q4 = rs(tf.transpose(rs(qs, [B, S, H, hd]), [0, 2, 1, 3]), [B, KV, G * S, hd]) as tf.Tensor4D;
    let k4 = tf.transpose(rs(ks, [B, S, KV, hd]), [0, 2, 1, 3]) as tf.Tensor4D;
    let v4 = tf.transpose(rs(vs, [B, S, KV, hd]), [0, 2, 1, 3]) as tf.Tensor4D;
    const cache = opts.cache;
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
    const pfx = opts.hooks?.prefix?.(l) ?? null;
    if ((pfx?.key.shape[1] ?? 0) !== P)
      throw new Error(`prefix hook: layer ${l} gives ${pfx?.key.shape[1] ?? 0} positions, layer 0 gave ${P}`);
    if (pfx) {
      // Broadcast [KV, P, hd] over the batch by adding zeros: its gradient is a plain sum.
      const zeros = tf.zeros([B, 1, 1, 1]);
      k4 = tf.concat([tf.add(zeros, tf.expandDims(pfx.key, 0)) as tf.Tensor4D, k4], 2);
      v4 = tf.concat([tf.add(zeros, tf.expandDims(pfx.value, 0)) as tf.Tensor4D, v4], 2);
    }
    const scale = 1 / Math.sqrt(hd);
    let attn: tf.Tensor;
    if (opts.batchedAttention) {
      // Reference formulation with built-in gradients (batched matmuls: slow on wasm).
      const scores = tf.mul(tf.matMul(q4, k4, false, true), scale); // [B, KV, G*S, K]
      const probs = tf.softmax(
        tf.add(tf.reshape(scores, [B, KV, G, S, K]), tf.tensor(ctx.mask, [B, 1, 1, S, K])),
      );
      attn = tf.matMul(tf.reshape(probs, [B, KV, G * S, K]), v4);
    } else attn = blockAttention(q4 as tf.Tensor4D, k4, v4, ctx.mask, scale, grad);
    const merged = rs(tf.transpose(rs(attn, [B, H, S, hd]), [0, 2, 1, 3]), [T, H * hd]) as tf.Tensor2D;
    const x1 = add(x, this.lin(l, o, merged, opts)) as tf.Tensor2D;
    const h2 = this.norm(x1, `${pre}.post_attention_layernorm.weight`, opts);
    const g = this.lin(l, gate, h2, opts);
    const act = tf.mul(tf.mul(g, tf.sigmoid(g)), this.lin(l, up, h2, opts)) as tf.Tensor2D;
    return add(x1, this.lin(l, down, act, opts)) as tf.Tensor2D;
  }

  /**
   * One decoder layer on the native tier: fused norms, RoPE, attention and SwiGLU over the
   * [tokens, heads x hd] layout the projections produce, so no transposes at all.
   */
  private nativeLayer(l: number, x: tf.Tensor2D, ctx: LayerContext): tf.Tensor2D {
    const cfg = this.config;
    const { B, S, P, opts } = ctx;
    const H = cfg.numHeads;
    const KV = cfg.numKvHeads;
    const hd = cfg.headDim;
    const grad = opts.trainable !== undefined;
    const [q, kp, vp, o, gate, up, down] = layerModules(cfg);
    const pre = `model.layers.${l}`;
    const add = (a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D => (grad ? addLean(a, b) : tf.add(a, b));
    const h = this.norm(x, `${pre}.input_layernorm.weight`, opts);
    const qs = nativeRope(this.lin(l, q, h, opts), ctx.cos, ctx.sin, H, hd, grad);
    let ks = nativeRope(this.lin(l, kp, h, opts), ctx.cos, ctx.sin, KV, hd, grad);
    let vs = this.lin(l, vp, h, opts);
    const pfx = opts.hooks?.prefix?.(l) ?? null;
    if ((pfx?.key.shape[1] ?? 0) !== P)
      throw new Error(`prefix hook: layer ${l} gives ${pfx?.key.shape[1] ?? 0} positions, layer 0 gave ${P}`);
    if (pfx) {
      // [KV, P, hd] -> [P, KV x hd] before each row's own keys; broadcast over rows by adding
      // zeros, so its gradient is a plain sum.
      const withPrefix = (t: tf.Tensor3D, own: tf.Tensor2D): tf.Tensor2D => {
        const flat = tf.reshape(tf.transpose(t, [1, 0, 2]), [1, P, KV * hd]);
        const rows = tf.add(tf.zeros([B, 1, 1]), flat);
        return tf.reshape(tf.concat([rows, tf.reshape(own, [B, S, KV * hd])], 1), [B * (P + S), KV * hd]);
      };
      ks = withPrefix(pfx.key, ks);
      vs = withPrefix(pfx.value, vs);
    }
    const dims = { B, S, K: P + S, H, KV, hd };
    const attn = nativeAttention(
      qs,
      ks,
      vs,
      ctx.plainCausal ? null : ctx.mask,
      dims,
      1 / Math.sqrt(hd),
      grad,
    );
    const x1 = add(x, this.lin(l, o, attn, opts));
    const h2 = this.norm(x1, `${pre}.post_attention_layernorm.weight`, opts);
    const act = nativeSwiglu(this.lin(l, gate, h2, opts), this.lin(l, up, h2, opts), grad);
    return add(x1, this.lin(l, down, act, opts));
  }

  /**
   * A layer whose activations are not kept: only its input is saved, and the backward pass runs
   * the layer again to get its gradients (gradient checkpointing).
   */
  private checkpointed(l: number, x: tf.Tensor2D, ctx: LayerContext): tf.Tensor2D {
    const trainable = ctx.opts.trainable!;
    const model = new Set(this.weights.values());
    const own = `m${this.id}/model.layers.${l}.`;
    // This layer's trainable weights, and every non-model variable (adapters used through hooks)
    // except those named for another layer (`.../model.layers.K.`, e.g. LoRA), whose gradient here is 0.
    const layerOf = (v: tf.Variable) => /\/model\.layers\.(\d+)\./.exec(v.name)?.[1];
    const vars = [...trainable].filter((v) =>
      model.has(v) ? v.name.startsWith(own) : (layerOf(v) ?? String(l)) === String(l),
    );
    const f = tf.customGrad((...args) => {
      const save = args.pop() as tf.GradSaveFunc;
      const xin = args[0] as tf.Tensor2D;
      save([xin]);
      // Forward without the training kernels: nothing here is kept for the backward pass.
      const value = this.layer(l, xin, { ...ctx, opts: { ...ctx.opts, trainable: undefined } });
      return {
        value,
        gradFunc: (dy, saved) => {
          const xs = saved[0] as tf.Tensor2D;
          // A nested gradients() call ends by clearing the engine's tape, which the outer pass
          // still needs for its own cleanup: keep and restore it.
          const state = (tf.engine() as unknown as { state: { activeTape: unknown } }).state;
          const outerTape = state.activeTape;
          try {
            const { grads } = tf
              .engine()
              .gradients(
                () => tf.sum(tf.mul(this.layer(l, xs, ctx), dy as tf.Tensor)) as tf.Scalar,
                [xs, ...vars],
                undefined,
                true,
              );
            return grads.map((g, i) => g ?? tf.zerosLike(i === 0 ? xs : vars[i - 1]!));
          } finally {
            state.activeTape = outerTape;
          }
        },
      };
    });
    return f(x, ...vars) as tf.Tensor2D;
  }

  /** lm_head as a [hidden, vocab] tensor (the embedding transposed when tied). Call inside tf.tidy. */
  lmHeadT(hooks?: AdapterHooks): tf.Tensor2D {
    if (this.config.tieWordEmbeddings)
      return tf.transpose(
        hooks?.table?.("model.embed_tokens.weight") ?? (this.w("model.embed_tokens.weight") as tf.Tensor2D),
      );
    return hooks?.table?.("lm_head.weight") ?? (this.w("lm_head.weight") as tf.Tensor as tf.Tensor2D);
  }

  /** Logits [batch * seqLen, vocab] as a tensor (caller disposes). */
  logitsTensor(b: TokenBatch, opts: ForwardOptions = {}): tf.Tensor2D {
    return tf.tidy(() => tf.matMul(this.hidden(b, opts), this.lmHeadT(opts.hooks)));
  }

  /** Logits of the last position of each row, [batch, vocab] (caller disposes). */
  lastLogitsTensor(b: TokenBatch, opts: ForwardOptions = {}): tf.Tensor2D {
    return tf.tidy(() => {
      const h = this.hidden(b, opts);
      const idx = Int32Array.from({ length: b.batch }, (_, r) => r * b.seqLen + b.seqLen - 1);
      const last = tf.gather(h, tf.tensor1d(idx, "int32"));
      // Few rows: a transposed matmul is cheaper than transposing the tied embedding.
      if (this.config.tieWordEmbeddings && b.batch <= 16) {
        const E =
          opts.hooks?.table?.("model.embed_tokens.weight") ??
          (this.w("model.embed_tokens.weight") as tf.Tensor as tf.Tensor2D);
        return tf.matMul(last, E, false, true);
      }
      return tf.matMul(last, this.lmHeadT(opts.hooks));
    });
  }

  /** Logits for each row (rows may differ in length; right-padded internally). */
  async logits(ids: number[][]): Promise<number[][][]> {
    const b = padRows(ids);
    const t = this.logitsTensor(b);
    const flat = await t.data();
    t.dispose();
    const V = this.config.vocabSize;
    return ids.map((row, r) =>
      row.map((_, i) => Array.from(flat.subarray((r * b.seqLen + i) * V, (r * b.seqLen + i + 1) * V))),
    );
  }

  /** Frees a cache's tensors. */
  static disposeCache(cache: KvCache): void {
    for (const t of [...cache.keys, ...cache.values]) t?.dispose();
    cache.keys.fill(null);
    cache.values.fill(null);
    cache.length = 0;
  }

  /** A new empty KV cache for incremental decoding. */
  newCache(): KvCache {
    return {
      length: 0,
      keys: Array(this.config.numLayers).fill(null),
      values: Array(this.config.numLayers).fill(null),
    };
  }

  /** The tensors to write, in HF names and layout. */
  checkpointTensors(): TensorToWrite[] {
    return expectedTensors(this.config).map(({ name, shape }) => ({
      name,
      shape,
      data: async () => {
        const v = this.w(name);
        if (!isTransposed(name)) return (await v.data()) as Float32Array;
        const t = tf.transpose(v);
        const d = (await t.data()) as Float32Array;
        t.dispose();
        return d;
      },
    }));
  }

  /** Writes config.json + model.safetensors (sharded above `maxShardBytes`). */
  async save(dir: string, opts: { dtype?: StDtype; maxShardBytes?: number } = {}): Promise<void> {
    await mkdir(dir, { recursive: true });
    const dtype = opts.dtype ?? "F32";
    const torchDtype = dtype === "F32" ? "float32" : dtype === "F16" ? "float16" : "bfloat16";
    await writeCheckpoint(dir, this.checkpointTensors(), { dtype, maxShardBytes: opts.maxShardBytes });
    const cfg = toHfConfig({ ...this.config, torchDtype });
    await writeFile(join(dir, "config.json"), `${JSON.stringify(cfg, null, 2)}\n`);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const v of this.weights.values()) v.dispose();
    this.rot.dispose();
  }
}

function makeVariable(model: number, name: string, t: tf.Tensor): tf.Variable {
  return tf.variable(t, true, `m${model}/${name}`);
}

/** A model with transformers-style random init (normal(0, std) weights, unit norms, zero biases). */
export function randomModel(cfg: ModelConfig, opts: { seed?: number; std?: number } = {}): Model {
  const seed = opts.seed ?? 0;
  const std = opts.std ?? 0.02;
  const weights = new Map<string, tf.Variable>();
  const serial = modelSerial + 1;
  expectedTensors(cfg).forEach(({ name, shape }, i) => {
    const t = tf.tidy(() => {
      if (name.endsWith("norm.weight")) return tf.ones(shape);
      if (name.endsWith(".bias")) return tf.randomNormal(shape, 0, std, "float32", seed * 7919 + i);
      const r = tf.randomNormal(shape, 0, std, "float32", seed * 7919 + i);
      return isTransposed(name) ? tf.transpose(r) : r;
    });
    weights.set(name, makeVariable(serial, name, t));
    t.dispose();
  });
  return new Model(cfg, weights);
}

/**
 * Loads a HF model folder (config.json + model.safetensors or shards), tensor by tensor, as float32.
 * Initialises the default backend when none is active.
 */
export async function loadModel(dirOrHubId: string): Promise<Model> {
  // A hub id ("org/name") is looked up in the local Hugging Face cache, never downloaded.
  const hub = existsSync(dirOrHubId) ? null : resolveHubModel(dirOrHubId);
  const dir = hub?.dir ?? dirOrHubId;
  if (tf.engine().backendName == null) await initBackend();
  const cfg = await readHfConfig(dir);
  const ck = await Checkpoint.open(dir);
  const weights = new Map<string, tf.Variable>();
  const serial = modelSerial + 1;
  try {
    for (const { name, shape } of expectedTensors(cfg)) {
      const data = await ck.readF32(name, shape);
      const t = tf.tidy(() => {
        const raw = tf.tensor(data, shape);
        return isTransposed(name) ? tf.transpose(raw) : raw;
      });
      weights.set(name, makeVariable(serial, name, t));
      t.dispose();
    }
  } catch (e) {
    for (const v of weights.values()) v.dispose();
    throw e;
  } finally {
    await ck.close();
  }
  return new Model(cfg, weights);
}
