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
import { familyOf, layerWindow, type TensorFact, tensorKinds } from "./families/index.ts";
import { resolveHubModel } from "./hub-cache.ts";
import type { GrownVocabulary } from "./vocabulary.ts";
import "./gradients.ts";
import { attention } from "./ops/attention.ts";
import { embedding } from "./ops/embedding.ts";
import { geglu } from "./ops/geglu.ts";
import { addLean } from "./ops/lean.ts";
import { linear } from "./ops/linear.ts";
import { rmsNorm } from "./ops/rmsnorm.ts";
import { RopeTables, rope } from "./ops/rope.ts";
import { swiglu } from "./ops/swiglu.ts";
import { embeddingScale, ropeTables, rotaryDim, rotateHalfMatrix } from "./rope.ts";
import type { TensorToWrite } from "./safetensors.ts";

export type LinearName = LinearModule["name"];

/** Where a linear hook runs: the linear, its bias, and the add to use (memory-lean while training). */
export interface LinearSite {
  readonly layer: number;
  readonly module: LinearName;
  /** The linear's bias (already in what `base` returns). */
  readonly bias: tf.Tensor1D | null;
  add(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D;
}

/**
 * A linear's output as a function of its input and the linear beneath: y = f(x, base). `base` is the stored
 * weight's x @ W + b, or what an inner hook made of it, so hooks compose (an NF4 base under LoRA, DoRA's
 * rescaled sum over either). x: [T, in]; returns [T, out].
 */
export type LinearHook = (
  x: tf.Tensor2D,
  base: (x: tf.Tensor2D) => tf.Tensor2D,
  site: LinearSite,
) => tf.Tensor2D;

/** Adapter hooks; the methods themselves (LoRA, NF4 base, P-tuning v2) live elsewhere. */
export interface AdapterHooks {
  /** Every linear's output, e.g. LoRA's base(x) + (x @ A @ B) * scale. */
  linear?: LinearHook;
  /** Per-layer key/value prefixes (P-tuning v2), each [numKvHeads, P, headDim]; used as given (no RoPE). */
  prefix?: (layer: number) => { key: tf.Tensor3D; value: tf.Tensor3D } | null;
  /**
   * Replaces the embedding table [V, d] or an untied lm_head (stored [d, V]) for one pass, e.g. with
   * trainable new-token rows; gradients flow through the returned tensor.
   */
  table?: (name: "model.embed_tokens.weight" | "lm_head.weight") => tf.Tensor2D | null;
  /** The input embeddings [B·S, d] before the first layer, given B and S (e.g. NEFTune's noise). */
  embeddings?: (x: tf.Tensor2D, batch: number, seqLen: number) => tf.Tensor2D;
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
  /** The ops' reference formulations whatever kernels are registered (batched-matmul attention): a check for tests. */
  batchedAttention?: boolean;
}

/** A layer's linears by role: Llama's seven, or phi3's fused qkv_proj and gate_up_proj in their place. */
function layerModules(cfg: ModelConfig): Map<LinearName, LinearModule> {
  return new Map(linearModules(cfg).map((m) => [m.name, m]));
}

interface LayerContext {
  B: number;
  S: number;
  /** Prefix (P-tuning) and cached lengths before this batch's keys. */
  P: number;
  past: number;
  cos: Float32Array;
  sin: Float32Array;
  /** The RoPE tables of the sliding layers where they have their own base (Gemma 3). */
  localRope(): { cos: Float32Array; sin: Float32Array };
  mask: Float32Array;
  /** The mask of a sliding layer with this window (made once per pass). */
  windowMask(window: number): Float32Array;
  /** No padding or packing: the mask is plain causal (prefix visible), which fused kernels know. */
  plainCausal: boolean;
  opts: ForwardOptions;
}

let modelSerial = 0;

/** Whether we store a tensor transposed ([in, out] for linears, [d, V] for lm_head). */
function isTransposed(t: { kind: TensorFact["kind"] }): boolean {
  return tensorKinds[t.kind].transposed;
}

/** The tensors (HF names and shapes) a config needs, in checkpoint order (from its family). */
export function expectedTensors(cfg: ModelConfig): TensorFact[] {
  return familyOf(cfg).tensors(cfg, cfg.vocabSize);
}

export class Model {
  readonly id = ++modelSerial;
  private readonly rot: tf.Tensor2D;
  private disposed = false;
  private currentConfig: ModelConfig;

  /** `weights` by HF name; linear weights and lm_head are stored transposed (see `isTransposed`). */
  constructor(
    config: ModelConfig,
    readonly weights: Map<string, tf.Variable>,
  ) {
    this.currentConfig = config;
    const hd = config.headDim;
    this.rot = tf.tensor2d(rotateHalfMatrix(hd, rotaryDim(config)), [hd, hd]);
  }

  /** The configuration; replaced, never mutated, when the vocabulary grows. */
  get config(): ModelConfig {
    return this.currentConfig;
  }

  /** Takes tables grown by `growVocabularyTables` (model/vocabulary.ts) in place of the old ones, and their config. */
  adoptVocabulary(grown: GrownVocabulary, trainable: boolean): void {
    for (const [name, table] of grown.tables) {
      const old = this.w(name);
      const varName = old.name;
      old.dispose();
      this.weights.set(name, tf.variable(table, trainable, varName));
      table.dispose();
    }
    this.currentConfig = grown.config;
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

  /** RMSNorm by weight name (scaling by 1 + weight where the family stores it so: Gemma). */
  private norm(x: tf.Tensor2D, name: string, opts: ForwardOptions): tf.Tensor2D {
    const w = this.w(name);
    const grad = opts.trainable !== undefined;
    const scale = this.config.normUnitOffset ? tf.add(w, 1) : w;
    return rmsNorm(x, scale as tf.Tensor as tf.Tensor1D, {
      eps: this.config.rmsNormEps,
      grad,
      weightGrad: grad && opts.trainable!.has(w),
      reference: opts.batchedAttention,
    });
  }

  /** The per-head RMSNorm of q or k ([T, heads * hd]) before RoPE (Qwen3, Gemma 3); the input as is without it. */
  private headNorm(
    l: number,
    which: "q_norm" | "k_norm",
    x: tf.Tensor2D,
    heads: number,
    opts: ForwardOptions,
  ): tf.Tensor2D {
    if (!this.config.qkNorm) return x;
    const hd = this.config.headDim;
    const T = x.shape[0];
    const y = this.norm(tf.reshape(x, [T * heads, hd]), `model.layers.${l}.self_attn.${which}.weight`, opts);
    return tf.reshape(y, [T, heads * hd]);
  }

  private lin(layer: number, m: LinearModule, x: tf.Tensor2D, opts: ForwardOptions): tf.Tensor2D {
    const p = `model.layers.${layer}.${m.path}`;
    const b = m.bias ? (this.w(`${p}.bias`) as tf.Tensor as tf.Tensor1D) : null;
    // The stored weight is looked up only when used: an NF4 base removes it.
    const stored = (xi: tf.Tensor2D): tf.Tensor2D => {
      const w = this.w(`${p}.weight`);
      const wt = w as tf.Tensor as tf.Tensor2D;
      if (!opts.trainable) return b ? tf.add(tf.matMul(xi, wt), b) : tf.matMul(xi, wt);
      return linear(xi, wt, b, opts.trainable.has(w));
    };
    const hook = opts.hooks?.linear;
    if (!hook) return stored(x);
    const add = (u: tf.Tensor2D, v: tf.Tensor2D): tf.Tensor2D =>
      opts.trainable ? addLean(u, v) : (tf.add(u, v) as tf.Tensor2D);
    return hook(x, stored, { layer, module: m.name, bias: b, add });
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
    const windowMasks = new Map<number, Float32Array>();
    let local: { cos: Float32Array; sin: Float32Array } | null = null;
    const ctx: LayerContext = {
      B,
      S,
      P,
      past,
      cos,
      sin,
      localRope: () => {
        local ??= ropeTables(
          { ...cfg, ropeTheta: cfg.ropeLocalTheta ?? cfg.ropeTheta, ropeScaling: null },
          positions,
        );
        return local;
      },
      mask: attentionMask(b, P, past),
      windowMask: (w) => {
        const m = windowMasks.get(w) ?? attentionMask(b, P, past, w);
        windowMasks.set(w, m);
        return m;
      },
      plainCausal: !b.segments && past === 0,
      opts,
    };
    const table = opts.hooks?.table?.("model.embed_tokens.weight") ?? null;
    const E = table ?? (this.w("model.embed_tokens.weight") as tf.Tensor as tf.Tensor2D);
    let x: tf.Tensor2D =
      opts.trainable && (table || opts.trainable.has(this.w("model.embed_tokens.weight")))
        ? embedding(E, b.ids)
        : tf.gather(E, tf.tensor1d(b.ids, "int32"));
    // NEFTune's noise is on the embedding module's output, before Gemma's scaling (as TRL's forward hook).
    if (opts.hooks?.embeddings) x = opts.hooks.embeddings(x, B, S);
    if (cfg.embeddingScale) x = tf.mul(x, embeddingScale(cfg));
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

  /** One decoder layer: x [T, hidden] -> [T, hidden]; each op runs the kernel registered for it. */
  private layer(l: number, x: tf.Tensor2D, ctx: LayerContext): tf.Tensor2D {
    const cfg = this.config;
    const { B, S, P, past, opts } = ctx;
    const H = cfg.numHeads;
    const KV = cfg.numKvHeads;
    const grad = opts.trainable !== undefined;
    const reference = opts.batchedAttention ?? false;
    const mods = layerModules(cfg);
    const mod = (role: LinearName): LinearModule => mods.get(role)!;
    // Partial rotary: the rope kernels rotate whole heads, the formulation takes the table's rotation.
    const partialRope = rotaryDim(cfg) < cfg.headDim;
    const pre = `model.layers.${l}`;
    const window = layerWindow(cfg, l);
    const rt = window != null && cfg.ropeLocalTheta !== undefined ? ctx.localRope() : ctx;
    const tables = new RopeTables(rt.cos, rt.sin, cfg.headDim, this.rot);
    // Training keeps no copies for same-shape adds (see addLean).
    const add = (a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D => (grad ? addLean(a, b) : tf.add(a, b));
    const h = this.norm(x, `${pre}.input_layernorm.weight`, opts);
    const hd = cfg.headDim;
    // A fused qkv_proj's output splits into q, k and v as transformers' Phi3Attention slices it.
    const [qp, kp, vp] = mods.has("qkv_proj")
      ? (tf.split(this.lin(l, mod("qkv_proj"), h, opts), [H * hd, KV * hd, KV * hd], 1) as tf.Tensor2D[])
      : [
          this.lin(l, mod("q_proj"), h, opts),
          this.lin(l, mod("k_proj"), h, opts),
          this.lin(l, mod("v_proj"), h, opts),
        ];
    const qs = rope(this.headNorm(l, "q_norm", qp!, H, opts), H, tables, grad, reference || partialRope);
    const ks = rope(this.headNorm(l, "k_norm", kp!, KV, opts), KV, tables, grad, reference || partialRope);
    const vs = vp!;
    const pfx = opts.hooks?.prefix?.(l) ?? null;
    if ((pfx?.key.shape[1] ?? 0) !== P)
      throw new Error(`prefix hook: layer ${l} gives ${pfx?.key.shape[1] ?? 0} positions, layer 0 gave ${P}`);
    // A sliding layer's window bites only once a query has more than `window` keys (prefix included) behind it.
    const slides = window != null && P + past + S > window;
    const attn = attention({
      q: qs,
      k: ks,
      v: vs,
      prefix: pfx,
      cache: opts.cache,
      layer: l,
      mask: slides ? ctx.windowMask(window) : ctx.mask,
      plainCausal: ctx.plainCausal && !slides,
      B,
      S,
      P,
      past,
      H,
      KV,
      hd: cfg.headDim,
      grad,
      batched: reference,
      ...(cfg.queryPreAttnScalar !== undefined ? { scale: cfg.queryPreAttnScalar ** -0.5 } : {}),
      softcap: cfg.attnLogitSoftcap ?? null,
    });
    // Gemma's sandwich: the attention and MLP outputs are normed before their residual adds.
    const sandwich = cfg.sandwichNorms ?? false;
    const attnOut = this.lin(l, mod("o_proj"), attn, opts);
    const x1 = add(
      x,
      sandwich ? this.norm(attnOut, `${pre}.post_attention_layernorm.weight`, opts) : attnOut,
    );
    const h2 = this.norm(
      x1,
      `${pre}.${sandwich ? "pre_feedforward_layernorm" : "post_attention_layernorm"}.weight`,
      opts,
    );
    // A fused gate_up_proj's output is gate then up (transformers' Phi3MLP chunk(2)).
    const [g, u] = mods.has("gate_up_proj")
      ? (tf.split(this.lin(l, mod("gate_up_proj"), h2, opts), 2, 1) as tf.Tensor2D[])
      : [this.lin(l, mod("gate_proj"), h2, opts), this.lin(l, mod("up_proj"), h2, opts)];
    const act = cfg.hiddenAct === "gelu_pytorch_tanh" ? geglu(g!, u!) : swiglu(g!, u!, grad, reference);
    const mlp = this.lin(l, mod("down_proj"), act, opts);
    return add(x1, sandwich ? this.norm(mlp, `${pre}.post_feedforward_layernorm.weight`, opts) : mlp);
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
    return tf.tidy(() => this.capped(tf.matMul(this.hidden(b, opts), this.lmHeadT(opts.hooks))));
  }

  /** Logits soft-capped as cap * tanh(logit / cap) where the config says (Gemma 2). */
  private capped(logits: tf.Tensor2D): tf.Tensor2D {
    const cap = this.config.finalLogitSoftcap;
    return cap == null ? logits : tf.mul(tf.tanh(tf.div(logits, cap)), cap);
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
        return this.capped(tf.matMul(last, E, false, true));
      }
      return this.capped(tf.matMul(last, this.lmHeadT(opts.hooks)));
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
    return expectedTensors(this.config).map((fact) => ({
      name: fact.name,
      shape: fact.shape,
      data: async () => {
        const v = this.w(fact.name);
        if (!isTransposed(fact)) return (await v.data()) as Float32Array;
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

/** A model with transformers-style random init (normal(0, std) weights and biases, unit norms). */
export function randomModel(cfg: ModelConfig, opts: { seed?: number; std?: number } = {}): Model {
  const seed = opts.seed ?? 0;
  const std = opts.std ?? 0.02;
  const weights = new Map<string, tf.Variable>();
  const serial = modelSerial + 1;
  expectedTensors(cfg).forEach((fact, i) => {
    const { name, shape } = fact;
    const t = tf.tidy(() => {
      // Gemma's norms scale by 1 + weight: transformers initialises their weights to 0.
      if (tensorKinds[fact.kind].init === "ones")
        return cfg.normUnitOffset ? tf.zeros(shape) : tf.ones(shape);
      const r = tf.randomNormal(shape, 0, std, "float32", seed * 7919 + i);
      return isTransposed(fact) ? tf.transpose(r) : r;
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
    // A family may convert what the checkpoint holds (e.g. split a fused qkv_proj) while it loads.
    const family = familyOf(cfg);
    const source = {
      names: () => ck.names(),
      read: (name: string, shape: number[]) => ck.readF32(name, shape),
    };
    for (const fact of expectedTensors(cfg)) {
      const { name, shape } = fact;
      const data = family.readWeight
        ? await family.readWeight(name, shape, source, cfg)
        : await ck.readF32(name, shape);
      const t = tf.tidy(() => {
        const raw = tf.tensor(data, shape);
        return isTransposed(fact) ? tf.transpose(raw) : raw;
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
