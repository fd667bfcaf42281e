// The run's one arena: at load the cuda engine reserves what the plan's memory model says its buffers
// take (memory.peak less the CUDA context), so a plan that does not fit the GPU fails there, naming both
// figures, rather than out of memory mid-step; the allocator sub-allocates from it (device.cc). The
// micro-batches it is sized for are the plan's: a larger one is refused.
import type { Plan } from "../../compile/plan-schema.ts";
import { plannedTokensPerMicroBatch } from "../decisions.ts";
import type { EngineMicroBatch } from "../engine.ts";
import type { CudaOps } from "./ops.ts";

const gib = (n: number) => `${(n / 1024 ** 3).toFixed(2)} GiB`;

/** Bytes the plan's cuda memory model gives the allocator (null: the plan has no cuda figures). */
export function planArenaBytes(plan: Plan): number | null {
  const m = plan.memory as Partial<Plan["memory"]> | undefined;
  if (m?.device?.backend !== "cuda" || typeof m.peak !== "number") return null;
  return m.arena ?? m.peak - (m.runtime ?? 0);
}

/** Reserves the plan's arena on a backend that reserves; returns its bytes (0: none reserved). */
export function reserveArena(ops: CudaOps, plan: Plan): number {
  const planned = planArenaBytes(plan);
  if (planned === null || !ops.reserve || !ops.arena) return 0;
  const bytes = Math.ceil(planned);
  const refuse = (e: unknown) => {
    const a = ops.arena!();
    return new Error(
      `cuda engine: the plan's memory estimate, ${gib(bytes)} (memory.peak ${gib(plan.memory.peak)} less the CUDA context's ${gib(plan.memory.runtime ?? 0)}), does not fit the GPU's ${gib(a.deviceFreeBytes)} free of ${gib(a.deviceTotalBytes)}; lower train.tokensPerMicroBatch or turn on train.gradientCheckpointing, or plan on this machine (sft plan sizes the micro-batch to its GPU) [${(e as Error).message}]`,
      { cause: e },
    );
  };
  // The backend hands its cached blocks back first, so its free figure is read after a refusal.
  try {
    ops.reserve(bytes);
  } catch (e) {
    throw refuse(e);
  }
  return bytes;
}

/** Refuses a micro-batch larger than the plan's (the arena and the memory estimate are sized for those). */
export function checkMicroBatch(plan: Plan, batch: EngineMicroBatch): void {
  const most = plannedTokensPerMicroBatch(plan);
  const tokens = batch.batch * batch.seqLen;
  if (most !== null && tokens > most)
    throw new Error(
      `cuda engine: a micro-batch of ${batch.batch} x ${batch.seqLen} = ${tokens} tokens is larger than the plan's ${most} (plan.batching; its memory estimate and arena are sized for that)`,
    );
}
