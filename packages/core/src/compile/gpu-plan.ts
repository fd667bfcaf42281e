// The GPU plan: for the `tensorflow` backend on a GPU (or a simulated device), micro-batch rows per
// length bucket sized from the memory model and the device's memory. TensorFlow compiles and caches
// kernels per tensor shape, and its allocator fragments when every batch has its own shape: rows
// are padded to a few bucket lengths and each bucket always runs [rows x length], so a whole run
// sees at most `buckets.length` distinct shapes.
import { spawnSync } from "node:child_process";
import type { ModelConfig } from "../model/config.ts";
import type { Recipe } from "../recipe/schema/recipe.ts";
import { parseBytes } from "../util/bytes.ts";
import { activationPeakBytes, LOSS_CHUNK_ROWS } from "./memory.ts";

export { parseBytes };

export interface GpuDevice {
  name: string;
  /** Device memory in bytes. */
  bytes: number;
  /** Given by SFTKIT_GPU_MEMORY or a test rather than found on the machine. */
  simulated: boolean;
}

export interface GpuBucket {
  /** Padded row length of this bucket. */
  length: number;
  /** Rows per micro-batch (a fixed shape [rows, length]). */
  rows: number;
  tokensPerMicroBatch: number;
  /** Estimated peak bytes of a step at this shape. */
  peakBytes: number;
}

export interface GpuPlan {
  device: GpuDevice;
  /** Bytes the plan may use: device memory less a reserve for the runtime (CUDA context, cuDNN/cuBLAS workspaces, fragmentation). */
  usableBytes: number;
  /** Weights, gradients and optimizer state: resident whatever the batch. */
  residentBytes: number;
  gradientCheckpointing: boolean;
  buckets: GpuBucket[];
  distinctShapes: number;
  note: string;
}

export interface GpuPlanInput {
  cfg: ModelConfig;
  vocab: number;
  method: Recipe["method"];
  /** Bytes of weights + gradients + optimizer state (the memory model's resident part). */
  residentBytes: number;
  /** Longest row the data can have (train.maxLength, or the longest padded row when known). */
  maxLength: number;
  /** The recipe's gradient checkpointing; turned on when a single row of maxLength would not fit. */
  gradientCheckpointing: boolean;
  device: GpuDevice;
  /** Upper bound on rows per micro-batch (default 256). */
  maxRows?: number;
}

/** Fraction of device memory kept back for the runtime. */
export const GPU_RESERVE = 0.1;
/** Shortest bucket: shorter rows pad up to it. */
export const MIN_BUCKET = 128;

/** Bucket lengths: powers of two from MIN_BUCKET up to maxLength, and maxLength itself. */
export function bucketLengths(maxLength: number): number[] {
  const out: number[] = [];
  for (let l = MIN_BUCKET; l < maxLength; l *= 2) out.push(l);
  out.push(maxLength);
  return out;
}

/** Rows of `length` tokens that fit in `budget` bytes of activations and logits (0 if none). */
function rowsThatFit(input: GpuPlanInput, length: number, budget: number, ckpt: boolean): number {
  const act = (rows: number) =>
    activationPeakBytes(input.cfg, input.method, rows * length, length, ckpt) +
    Math.min(LOSS_CHUNK_ROWS, rows * length) * input.vocab * 4 * 2;
  // Monotonic in rows: the largest that fits, by bisection.
  if (act(1) > budget) return 0;
  let lo = 1;
  let hi = input.maxRows ?? 256;
  if (act(hi) <= budget) return hi;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (act(mid) <= budget) lo = mid;
    else hi = mid;
  }
  return lo;
}

export function planGpu(input: GpuPlanInput): GpuPlan {
  const usableBytes = Math.floor(input.device.bytes * (1 - GPU_RESERVE));
  const budget = usableBytes - input.residentBytes;
  let ckpt = input.gradientCheckpointing;
  if (!ckpt && rowsThatFit(input, input.maxLength, budget, false) === 0) ckpt = true;
  const buckets: GpuBucket[] = [];
  for (const length of bucketLengths(input.maxLength)) {
    const rows = rowsThatFit(input, length, budget, ckpt);
    if (rows === 0) continue;
    const tokens = rows * length;
    buckets.push({
      length,
      rows,
      tokensPerMicroBatch: tokens,
      peakBytes:
        input.residentBytes +
        activationPeakBytes(input.cfg, input.method, tokens, length, ckpt) +
        Math.min(LOSS_CHUNK_ROWS, tokens) * input.vocab * 8,
    });
  }
  const fitsAll = buckets.length > 0 && buckets[buckets.length - 1]!.length === input.maxLength;
  const note = !fitsAll
    ? `a row of ${input.maxLength} tokens does not fit ${(usableBytes / 2 ** 30).toFixed(1)} GiB even with gradient checkpointing`
    : ckpt && !input.gradientCheckpointing
      ? "gradient checkpointing turned on: a row of the longest length does not fit without it"
      : `rows per bucket fill ${(usableBytes / 2 ** 30).toFixed(1)} GiB (device less ${GPU_RESERVE * 100}% reserve)`;
  return {
    device: input.device,
    usableBytes,
    residentBytes: input.residentBytes,
    gradientCheckpointing: ckpt,
    buckets,
    distinctShapes: buckets.length,
    note,
  };
}

/**
 * The GPU a plan is made for: $SFTKIT_GPU_MEMORY (simulated, e.g. "24GB"), else for the tensorflow
 * backend the first GPU nvidia-smi lists; null otherwise (no GPU section in the plan).
 */
export function findGpu(backend: string, env = process.env): GpuDevice | null {
  const sim = env.SFTKIT_GPU_MEMORY;
  if (sim) {
    const bytes = parseBytes(sim);
    return bytes ? { name: `simulated ${sim}`, bytes, simulated: true } : null;
  }
  if (backend !== "tensorflow") return null;
  try {
    const r = spawnSync("nvidia-smi", ["--query-gpu=name,memory.total", "--format=csv,noheader,nounits"], {
      encoding: "utf8",
      timeout: 5000,
    });
    const line = r.status === 0 ? r.stdout.trim().split("\n")[0] : undefined;
    if (!line) return null;
    const [name, mib] = line.split(",").map((s) => s.trim());
    const bytes = Number(mib) * 2 ** 20;
    return name && bytes > 0 ? { name, bytes, simulated: false } : null;
  } catch {
    return null;
  }
}
