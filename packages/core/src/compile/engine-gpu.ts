// The GPU plan of an engine that runs on a GPU with its own memory model (cuda): the micro-batch, in rows of
// maxLength, that fills the GPU less a reserve by that model's count, and gradient checkpointing turned on
// when one row fits only with it. Unlike the tensorflow backend's plan (gpu-plan.ts) this one is obeyed:
// the batching then takes its tokens per micro-batch (plan.ts), the engine reserves the plan's bytes at
// run start and refuses a larger micro-batch (engines/cuda/engine.ts).
import type { GpuBucket, GpuDevice, GpuPlan } from "./gpu-plan.ts";

/**
 * Share of the GPU kept back: the engine's model already counts the CUDA context and the allocator's slack
 * (it matched the measured peak to 0.1% on an H200); this is for the driver and other processes.
 */
export const ENGINE_GPU_RESERVE = 0.05;
/** Most rows of maxLength a micro-batch is given. */
export const ENGINE_GPU_MAX_ROWS = 256;

export interface EngineGpuInput {
  device: GpuDevice;
  maxLength: number;
  /** The recipe's gradient checkpointing. */
  gradientCheckpointing: boolean;
  /** The engine's whole-process estimate (plan.memory) of a micro-batch of `tokens` tokens. */
  estimate(tokens: number, recompute: boolean): { peak: number; resident: number };
  maxRows?: number;
}

export function planEngineGpu(input: EngineGpuInput): GpuPlan {
  const usableBytes = Math.floor(input.device.bytes * (1 - ENGINE_GPU_RESERVE));
  const fits = (rows: number, ckpt: boolean) =>
    input.estimate(rows * input.maxLength, ckpt).peak <= usableBytes;
  // The peak grows with the rows: the most that fit, by bisection (0: not one).
  const rowsThatFit = (ckpt: boolean): number => {
    if (!fits(1, ckpt)) return 0;
    let lo = 1;
    let hi = input.maxRows ?? ENGINE_GPU_MAX_ROWS;
    if (fits(hi, ckpt)) return hi;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (fits(mid, ckpt)) lo = mid;
      else hi = mid;
    }
    return lo;
  };
  let ckpt = input.gradientCheckpointing;
  let rows = rowsThatFit(ckpt);
  if (rows === 0 && !ckpt) {
    ckpt = true;
    rows = rowsThatFit(true);
  }
  const gib = (n: number) => `${(n / 2 ** 30).toFixed(1)} GiB`;
  const buckets: GpuBucket[] = [];
  if (rows > 0) {
    const tokens = rows * input.maxLength;
    buckets.push({
      length: input.maxLength,
      rows,
      tokensPerMicroBatch: tokens,
      peakBytes: input.estimate(tokens, ckpt).peak,
    });
  }
  const note =
    rows === 0
      ? `a row of ${input.maxLength} tokens does not fit ${gib(usableBytes)} even with gradient checkpointing`
      : `${rows} rows of ${input.maxLength} tokens per micro-batch fill ${gib(usableBytes)} (the GPU less ${ENGINE_GPU_RESERVE * 100}%) by the engine's memory model${ckpt && !input.gradientCheckpointing ? "; gradient checkpointing turned on: a row fits only with it" : ""}`;
  return {
    device: input.device,
    usableBytes,
    residentBytes: input.estimate(input.maxLength, ckpt).resident,
    gradientCheckpointing: ckpt,
    buckets,
    distinctShapes: buckets.length,
    note,
  };
}
