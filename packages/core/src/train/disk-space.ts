// Room on the disk before a run writes anything: the checkpoints it keeps and the artefacts it saves must fit
// where the output folder is, or the run stops at once with the numbers instead of failing hours in. (The
// data cache, the estimate's third part, is checked where compile writes it.)
import { type DiskEstimate, diskEstimate } from "../compile/disk-estimate.ts";
import type { Plan } from "../compile/plan-schema.ts";
import { formatBytes } from "../util/format.ts";
import { freeBytesAt } from "../util/fs-errors.ts";
import { TrainError } from "./errors.ts";

export { type DiskEstimate, diskEstimate };

/** Throws a TrainError naming the folder and the bytes needed when its disk has less free than the run needs. */
export function checkDiskSpace(plan: Plan, free: number | null = freeBytesAt(plan.output.dir)): void {
  if (free === null) return;
  // The plan's own estimate (plans written before it existed: the same sum, made now).
  const e = plan.disk ?? diskEstimate(plan);
  // The data cache is already on disk: compile writes it (checking its own disk first, data/cache/store.ts)
  // before a run reads it, so the free space measured here has paid for it.
  const needed = e.total - (e.dataCache ?? 0);
  if (free >= needed) return;
  throw new TrainError(
    `not enough disk space for ${plan.output.dir}: the run writes about ${formatBytes(needed)} (${e.checkpointsHeld} checkpoint(s) of ${formatBytes(e.checkpoint)} and ${formatBytes(e.artefacts)} of artefacts), ${formatBytes(free)} are free there; free some space, lower train.checkpointKeep, or choose another output.dir`,
  );
}
