// The native engine's memory model, counted from what model.ts allocates: the per-layer arrays a
// training pass keeps (flash attention keeps its output and log-sum-exp, never T x T), one layer's
// backward arrays, the fused lm-head's chunk buffers (lmhead.cc) and the per-thread conversion tiles
// (linear.cc: bf16/f16/NF4 -> f32 a tile at a time). The device is the machine's memory.
import { totalmem } from "node:os";
import { linearModules, type ModelConfig } from "../../model/config.ts";
import type { EngineMemoryEstimate, EngineMemoryInput, EngineMemoryModel, StorageDtype } from "../engine.ts";

const F32 = 4;
const MiB = 1024 ** 2;
/** lmhead.cc: logits of one chunk, at most 2^23 values, 16 to 256 rows. */
const LOGIT_VALUES = 2 ** 23;
/** linear.cc: a tile is at most 256 rows of a weight, or 2^21 values in backward. */
const TILE_ROWS = 256;
const TILE_VALUES = 2 ** 21;
/**
 * The process before any model: Node with the core's modules loaded through tsx, as `sft` runs from a
 * clone (219-228 MiB resident after import on Node 20, 2026-12; memory.test.ts checks this figure still
 * covers it), plus OpenBLAS's per-thread buffers and the JS heap's garbage between collections during
 * steps (the quickstart: 347 MiB peak resident against 48 MiB of model, state and activations).
 */
export const NATIVE_RUNTIME_BYTES = 288 * MiB;
/**
 * Arrays freed in JavaScript live until V8 collects them (large typed arrays count as external memory,
 * which triggers a collection as it grows): garbage as a share of the step's activations, measured.
 */
const GARBAGE_SHARE = 0.15;
/** What the machine keeps for the OS and other processes: 10% of it, at least 1 GiB. */
export function machineMargin(total: number): number {
  return Math.max(1024 * MiB, Math.round(total * 0.1));
}

interface Dims {
  d: number;
  q: number;
  kv: number;
  F: number;
  H: number;
  /** Keys per row over own tokens: (prefix + S) / S. */
  keyRatio: number;
  adapterFloats: number;
  /** What a family beyond Llama keeps per token and layer: q/k before their norms and 1/rms per head; the
   * attention and MLP outputs before the sandwich norms and their 1/rms. */
  familyKept: number;
  /** What its backward adds per token: the gradients before the q/k norms, through the sandwich norms,
   * and a fused linear's joined output gradient (qkv_proj, gate_up_proj). */
  familyBackward: number;
  /** DoRA: Σ out over the adapted linears (each keeps x_d·Wᵀ + s·x_d·Aᵀ·Bᵀ), their widest out and largest out × in. */
  doraFloats: number;
  doraWidest: number;
  doraWeight: number;
}

function dims(cfg: ModelConfig, input: EngineMemoryInput): Dims {
  const S = input.sequenceLength;
  const a = input.adapters;
  const q = cfg.numHeads * cfg.headDim;
  const kv = cfg.numKvHeads * cfg.headDim;
  const fused = linearModules(cfg).some((m) => m.name === "qkv_proj");
  const qk = cfg.qkNorm ? q + kv : 0;
  const sandwich = cfg.sandwichNorms ? 2 * cfg.hiddenSize : 0;
  const dora = a?.dora ? linearModules(cfg).filter((m) => a.modules.includes(m.name)) : [];
  return {
    d: cfg.hiddenSize,
    q: cfg.numHeads * cfg.headDim,
    kv: cfg.numKvHeads * cfg.headDim,
    F: cfg.intermediateSize,
    H: cfg.numHeads,
    keyRatio: (input.prefixLength + S) / S,
    adapterFloats: a ? a.modules.length * a.rank : 0,
    familyKept:
      qk + (cfg.qkNorm ? cfg.numHeads + cfg.numKvHeads : 0) + sandwich + (cfg.sandwichNorms ? 2 : 0),
    familyBackward: qk + sandwich + (fused ? q + 2 * kv + 2 * cfg.intermediateSize : 0),
    doraFloats: dora.reduce((n, m) => n + m.outFeatures, 0),
    doraWidest: Math.max(0, ...dora.map((m) => m.outFeatures)),
    doraWeight: Math.max(0, ...dora.map((m) => m.outFeatures * m.inFeatures)),
  };
}

/**
 * f32 values one layer keeps per token for its backward pass (model.ts LayerSaved): x, h1, x1, h2 (4d),
 * two 1/rms, q and the attention output (2q), keys and values (with the prefix's), the log-sum-exp per
 * head, gate, up and SwiGLU (3F), x·A per adapted linear, and DoRA's z [out] per adapted linear (dora.ts).
 */
export function nativeKeptFloatsPerToken(m: Dims): number {
  return (
    4 * m.d +
    2 +
    2 * m.q +
    2 * m.kv * m.keyRatio +
    m.H +
    3 * m.F +
    m.adapterFloats +
    m.familyKept +
    m.doraFloats
  );
}

/**
 * f32 values per token the backward of one layer allocates (model.ts layerBack): the incoming gradient,
 * d act, d gate, d up (3F), dh2, dx1, dh1 and two norm temporaries, d attention and dq (2q), dk, dv;
 * with LoRA dropout, the mask, the dropped input and its gradient of the widest adapted linear (3F);
 * DoRA's dy·m/n and dy·(m/n − 1) of its widest linear.
 */
function backwardFloatsPerToken(m: Dims, dropout: boolean): number {
  return (
    6 * m.d +
    3 * m.F +
    2 * m.q +
    2 * m.kv * m.keyRatio +
    (dropout ? 3 * m.F : 0) +
    m.familyBackward +
    2 * m.doraWidest
  );
}

export function nativeEstimate(input: EngineMemoryInput): EngineMemoryEstimate {
  const { cfg } = input;
  const T = input.tokensPerMicroBatch;
  const m = dims(cfg, input);
  const L = cfg.numLayers;
  const kept = nativeKeptFloatsPerToken(m);
  const layers = input.recompute
    ? // Each layer's input, and one layer rebuilt at a time.
      L * m.d + kept
    : L * kept;
  // Embedding output, final norm output and 1/rms, its gradient, the RoPE tables (cos, sin).
  const outside = 4 * m.d + 1 + 2 * cfg.headDim;
  const backward = backwardFloatsPerToken(m, input.adapters?.dropout ?? false);
  const activations = F32 * T * (layers + outside + backward);

  const V = input.vocab;
  const chunk = Math.min(T, Math.min(256, Math.max(16, Math.floor(LOGIT_VALUES / V))));
  // Logits of one chunk, its hidden rows, and each thread's partial dh (when a gradient flows).
  const logits = F32 * chunk * (V + m.d * (1 + input.threads));

  const widest = Math.max(m.d, m.q, m.F, ...linearModules(cfg).map((x) => x.inFeatures));
  // DoRA's row norms: W + s·B·A of one linear in float32 (dora.ts doraRowNorms), a pass at a time.
  const scratch = input.threads * F32 * Math.max(TILE_ROWS * widest, TILE_VALUES) + F32 * m.doraWeight;
  return {
    activations: Math.round(activations),
    logits,
    scratch,
    runtime: NATIVE_RUNTIME_BYTES,
    workspace: Math.round(GARBAGE_SHARE * activations),
  };
}

export const nativeMemoryModel: EngineMemoryModel = {
  // Frozen matrices keep the checkpoint's dtype; 1-D tensors (norms, biases) are read as float32.
  frozenStorage: (checkpoint, dims): StorageDtype => (dims < 2 ? "float32" : checkpoint),
  estimate: nativeEstimate,
  device() {
    const total = totalmem();
    const margin = machineMargin(total);
    return {
      backend: "native",
      bytes: total - margin,
      note: `machine memory less ${(margin / 1024 ** 3).toFixed(1)} GiB for the OS and other processes (10%, at least 1 GiB)`,
    };
  },
};
