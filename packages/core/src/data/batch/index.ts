import { packBatches, summarisePacked } from "./pack.ts";
import { bucketByTokens, fixedSize, summarisePadded } from "./padded.ts";
import type { BatchOptions, BatchSchedule } from "./types.ts";

export { packRows, positionIds, segmentIds } from "./pack.ts";
export type * from "./types.ts";

/** The micro-batches of one epoch over samples of these lengths (in the epoch's mixed order). */
export function planBatches(lengths: readonly number[], opts: BatchOptions): BatchSchedule {
  const order = { seed: opts.seed ?? 0, epoch: opts.epoch ?? 0 };
  if (opts.mode === "pack") {
    const microBatches = packBatches(lengths, opts.maxLength, Math.max(1, opts.rowsPerMicroBatch), order);
    return { kind: "packed", microBatches, summary: summarisePacked(microBatches) };
  }
  const pad = { padMultiple: opts.padMultiple ?? 1, ...order };
  const microBatches =
    opts.mode === "bucket"
      ? bucketByTokens(lengths, opts.tokensPerMicroBatch, {
          ...pad,
          ...(opts.overheadTokens !== undefined ? { overheadTokens: opts.overheadTokens } : {}),
        })
      : fixedSize(lengths, Math.max(1, opts.microBatchSize), pad);
  return { kind: "padded", microBatches, summary: summarisePadded(lengths, microBatches) };
}
