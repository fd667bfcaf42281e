// The cuda engine's memory model, counted from what model.ts allocates on the device: frozen matrices
// bf16 (QLoRA's linears NF4, the planner's groups), norms, biases and trainables f32 with their f32
// gradients and AdamW moments; per token, what each layer keeps for its backward (f32), one layer's
// backward temporaries (with the bf16 copies GEMMs read), the lm head's chunk of logits; the NF4
// dequantization scratch, the bf16 copies of trained matrices and trained token rows' one-hot picker; the
// CUDA context. The device is the GPU.
import { linearModules, type ModelConfig } from "../../model/config.ts";
import { parseBytes } from "../../util/bytes.ts";
import type { EngineMemoryEstimate, EngineMemoryInput, EngineMemoryModel, StorageDtype } from "../engine.ts";
import { cudaPackage } from "./load.ts";

const F32 = 4;
const BF16 = 2;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
/** model.ts LOGIT_ELEMENTS: rows of the loss's [rows, V] chunk. */
const LOGIT_ELEMENTS = 2 ** 26;
/**
 * The CUDA context, cuBLASLt's handle and workspace and the kernels' modules: measured on an H200 (CUDA
 * 13.0 driver, cuBLASLt 13.1) as the device's used bytes minus the allocator's in-use and cached ones,
 * 688 MiB (bench/device/runs/h200-2026-12-04, run 4's LoRA row), rounded up.
 */
export const CUDA_RUNTIME_BYTES = 704 * MiB;
/** The caching allocator's slack (freed blocks of other sizes it keeps), as a share of the activations. */
const ALLOCATOR_SLACK = 0.1;
/** The GPU assumed when none is seen (plans made on a machine without one): an 80 GB A100/H100. */
export const DEFAULT_GPU_BYTES = 80 * GiB;

interface Dims {
  d: number;
  q: number;
  kv: number;
  F: number;
  H: number;
  hd: number;
  /** Keys per row over own tokens: (prefix + S) / S. */
  keyRatio: number;
  /** Σ rank over the adapted linears of a layer (x·Aᵀ kept per module). */
  adapterFloats: number;
  rank: number;
  /** DoRA: Σ out over a layer's adapted linears (z kept per linear), their widest out and largest out × in. */
  doraFloats: number;
  doraWidest: number;
  doraWeight: number;
}

function dims(cfg: ModelConfig, input: EngineMemoryInput): Dims {
  const S = input.sequenceLength;
  const a = input.adapters;
  const dora = a?.dora ? linearModules(cfg).filter((x) => a.modules.includes(x.name)) : [];
  return {
    d: cfg.hiddenSize,
    q: cfg.numHeads * cfg.headDim,
    kv: cfg.numKvHeads * cfg.headDim,
    F: cfg.intermediateSize,
    H: cfg.numHeads,
    hd: cfg.headDim,
    keyRatio: (input.prefixLength + S) / S,
    adapterFloats: a ? a.modules.length * a.rank : 0,
    rank: a?.rank ?? 0,
    doraFloats: dora.reduce((n, x) => n + x.outFeatures, 0),
    doraWidest: Math.max(0, ...dora.map((x) => x.outFeatures)),
    doraWeight: Math.max(0, ...dora.map((x) => x.outFeatures * x.inFeatures)),
  };
}

/**
 * f32 values one layer keeps per token (model.ts LayerSaved): x, h1, x1, h2 (4d), two 1/rms, q and the
 * attention output (2q), keys and values (with the prefix's), the log-sum-exp per head, gate, up and
 * SwiGLU (3F), x·Aᵀ per adapted linear, and DoRA's z = x·Wᵀ + s·x·Aᵀ·Bᵀ per adapted linear.
 */
export function cudaKeptFloatsPerToken(m: Dims): number {
  return 4 * m.d + 2 + 2 * m.q + 2 * m.kv * m.keyRatio + m.H + 3 * m.F + m.adapterFloats + m.doraFloats;
}

/**
 * f32-equivalent values per token one layer's backward holds at its fullest (model.ts layerBack), beside
 * the incoming gradient dy: the largest of its phases (bf16 temporaries count half). LoRA dropout's
 * backward of an adapted linear of input width I holds 4I more at once (the mask, the masked input or
 * the input's gradient, zeros and the masked gradient: model.ts linearBack).
 */
function backwardFloatsPerToken(m: Dims, dropped: (module: string) => boolean): number {
  const kv2 = 2 * m.kv * m.keyRatio;
  const drop = (modules: string[], I: number) => (modules.some(dropped) ? 4 * I : 0);
  // DoRA: dy·(m/n) held through a linear's backward, made by way of a [T, out] table and zeros.
  const dora = 3 * m.doraWidest;
  return (
    dora +
    Math.max(
      // swigluBackward: d act, d gate, d up.
      3 * m.F,
      // down backward (under dropout): d act, act in bf16, dy in bf16, LoRA's dx·A.
      drop(["down_proj"], m.F) ? m.F + m.F / 2 + m.d / 2 + m.rank + drop(["down_proj"], m.F) : 0,
      // gate/up backward: dg, du, dh2, h2 in bf16, dg in bf16, LoRA's dx·A.
      2 * m.F + m.d + m.d / 2 + m.F / 2 + m.rank + drop(["gate_proj", "up_proj"], m.d),
      // o backward (under dropout): dx1, d attention, attention in bf16, dx1 in bf16, LoRA's dx·A.
      drop(["o_proj"], m.q) ? m.d + m.q + m.q / 2 + m.d / 2 + m.rank + drop(["o_proj"], m.q) : 0,
      // attentionBackward: dx1, d attention, dq, dk, dv.
      m.d + 2 * m.q + kv2,
      // q/k/v backward: dx1, dq, dk, dv, dh1, h1 in bf16, dq in bf16.
      2 * m.d + m.q + kv2 + m.d / 2 + m.q / 2 + m.rank + drop(["q_proj", "k_proj", "v_proj"], m.d),
    )
  );
}

/** f32-equivalent values per token the head's loss holds beside the layers' (model.ts headLoss): the last
 * layer's output, the final norm's output and 1/rms, dh, h in bf16 and the targets. */
function headFloatsPerToken(m: Dims): number {
  return 3 * m.d + 1 + m.d / 2 + 1;
}

export function cudaEstimate(input: EngineMemoryInput): EngineMemoryEstimate {
  const { cfg } = input;
  const T = input.tokensPerMicroBatch;
  const m = dims(cfg, input);
  const L = cfg.numLayers;
  const kept = cudaKeptFloatsPerToken(m);
  // Held through the step: each layer's kept values (recomputation: each layer's input only), the token
  // ids, segments (i32) and the RoPE tables (cos, sin: [T, hd] each).
  const held = F32 * T * ((input.recompute ? L * m.d : L * kept) + 2 + 2 * m.hd);

  const V = input.vocab;
  const rows = Math.max(1, Math.min(T, Math.floor(LOGIT_ELEMENTS / V)));
  // Trainable rows of the added tokens (the method trains the head's rows, not the whole head): their
  // columns of the chunk's logit gradient, [rows, n] f32, picked by a resident [V, n] bf16 one-hot;
  // the embedding's side sums them into n + 1 rows of d (model.ts headLoss, rowsEmbedBackward).
  const full = !input.adapters && input.prefixLength === 0 && input.headTrains;
  const newRows = input.headTrains && !full ? Math.max(0, V - cfg.vocabSize) : 0;
  // The picker's width: n rounded up to 8; the head's side sums into [width, d] first.
  const tokenRows = Math.ceil(newRows / 8) * 8;
  const rowsScratch = tokenRows ? BF16 * V * tokenRows + F32 * 2 * (tokenRows + 1) * m.d + F32 * T : 0;
  // f32 logits of one chunk (the loss's gradient overwrites them) and their bf16 copy for the GEMMs back.
  const logits = rows * V * (F32 + BF16) + F32 * rows * tokenRows;
  // Then the fuller of two phases: the loss (its per-token buffers and the chunk), or a layer's backward
  // (dy beside its temporaries, and under recomputation the layer rebuilt). The chunk is its own field.
  const head = F32 * T * headFloatsPerToken(m) + logits;
  const a = input.adapters;
  const dropped = (module: string) => a?.dropout === true && a.modules.includes(module);
  const back = F32 * T * ((input.recompute ? kept : 0) + m.d + backwardFloatsPerToken(m, dropped));
  const activations = held + Math.max(head, back) - logits;

  const mods = linearModules(cfg);
  // NF4 dequantizes one linear at a time into a bf16 scratch of the largest. EngineMemoryInput does not
  // say whether the base is quantized: counted for every adapter method (a few MiB where it is not).
  const largest = Math.max(0, ...mods.map((x) => x.outFeatures * x.inFeatures));
  const nf4Scratch = input.adapters ? BF16 * largest : 0;
  // DoRA's row norms after each update: one adapted weight in f32 and RMSNorm's output of it (model.ts
  // refreshDora). No pass's buffers are held then: it counts only beyond the activations.
  const doraScratch = 2 * F32 * m.doraWeight;
  // Trained matrices keep a bf16 copy the GEMMs and gathers read (model.ts devParam).
  const heads = cfg.tieWordEmbeddings ? 1 : 2;
  const matrices = L * mods.reduce((n, x) => n + x.outFeatures * x.inFeatures, 0) + heads * V * m.d;
  // The trained ones when the planner says which (a full fine-tune's, LoRA's modulesToSave tables).
  const shadows = BF16 * (input.trainedMatrixParameters ?? (full ? matrices : 0));
  return {
    activations: Math.round(activations),
    logits,
    scratch: nf4Scratch + shadows + rowsScratch + Math.max(0, doraScratch - activations),
    runtime: CUDA_RUNTIME_BYTES + attentionScratchBytes(m, T),
    workspace: Math.round(ALLOCATOR_SLACK * activations),
  };
}

/**
 * The tensor-core attention's own device scratch (flash_tc.cu, head dims 64 and 128), kept between calls
 * beside the arena: bf16 copies of q and dout, of the keys and values (with a prefix's), f32 D per head.
 */
export function attentionScratchBytes(
  m: Pick<Dims, "q" | "kv" | "H" | "hd" | "keyRatio">,
  T: number,
): number {
  if (m.hd !== 64 && m.hd !== 128) return 0;
  return BF16 * T * (2 * m.q + 2 * m.kv * m.keyRatio) + F32 * T * m.H;
}

/** The GPU's name and memory from @sftkit/cuda's probe (cudaGetDeviceProperties' totalGlobalMem), or null. */
function probedGpu(): { name: string; bytes: number } | null {
  const p = cudaPackage();
  if ("reason" in p) return null;
  try {
    const a = p.pkg.cudaAvailability() as { device?: { name: string; bytes: number } };
    return a.device && a.device.bytes > 0 ? { name: a.device.name, bytes: a.device.bytes } : null;
  } catch {
    return null;
  }
}

export interface CudaGpu {
  name: string;
  bytes: number;
  /** Given by $SFTKIT_GPU_MEMORY or assumed (no GPU seen) rather than probed. */
  simulated: boolean;
}

/** The GPU plans are made for: $SFTKIT_GPU_MEMORY ("24GB": simulated), else the probed one, else null. */
export function planningGpu(env: NodeJS.ProcessEnv = process.env, probe = probedGpu): CudaGpu | null {
  const sim = env.SFTKIT_GPU_MEMORY ? parseBytes(env.SFTKIT_GPU_MEMORY) : null;
  if (sim) return { name: `simulated ${env.SFTKIT_GPU_MEMORY}`, bytes: sim, simulated: true };
  const gpu = probe();
  return gpu ? { ...gpu, simulated: false } : null;
}

export function cudaDevice(gpu: { name: string; bytes: number } | null = planningGpu()): {
  backend: string;
  bytes: number;
  note: string;
} {
  if (gpu)
    return {
      backend: "cuda",
      bytes: gpu.bytes,
      note: `${gpu.name}: ${(gpu.bytes / GiB).toFixed(0)} GiB of GPU memory (the CUDA context counted in runtime)`,
    };
  return {
    backend: "cuda",
    bytes: DEFAULT_GPU_BYTES,
    note: `no GPU seen here: an ${DEFAULT_GPU_BYTES / GiB} GiB GPU assumed (A100/H100 80 GB)`,
  };
}

export const cudaMemoryModel: EngineMemoryModel = {
  // Frozen matrices bf16 whatever the checkpoint (model.ts resident); 1-D tensors (norms, biases) f32.
  frozenStorage: (_checkpoint, rank): StorageDtype => (rank < 2 ? "float32" : "bfloat16"),
  estimate: cudaEstimate,
  device: () => cudaDevice(),
  // The planner sizes the micro-batch to this GPU (compile/engine-gpu.ts); the run reserves the plan's bytes.
  gpu: () =>
    planningGpu() ?? {
      name: `assumed ${DEFAULT_GPU_BYTES / GiB} GiB GPU (none seen)`,
      bytes: DEFAULT_GPU_BYTES,
      simulated: true,
    },
};
