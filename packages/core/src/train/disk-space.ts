// Room on the disk before a run writes anything: the checkpoints it keeps and the artefacts it saves must fit
// where the output folder is, or the run stops at once with the numbers instead of failing hours in.
import type { Plan } from "../compile/plan-schema.ts";
import { formatBytes } from "../util/format.ts";
import { freeBytesAt } from "../util/fs-errors.ts";
import { TrainError } from "./errors.ts";

export interface DiskEstimate {
  /** One checkpoint: the trainable values and AdamW's two moments, float32. */
  checkpoint: number;
  /** Checkpoints on disk at once: the newest `keep`, the best by eval loss and the one being written. */
  checkpointsHeld: number;
  /** The adapter and/or merged model (float32, as export writes them). */
  artefacts: number;
  total: number;
}

// Tokenizer files, configs, metrics, plots and report.html: small beside the tensors, never zero.
const SMALL_FILES = 16 * 1024 ** 2;

export function diskEstimate(plan: Plan): DiskEstimate {
  const trainable = plan.parameters.trainable;
  const checkpoint = trainable * 4 * 3;
  const steps = plan.optimizer.schedule.totalSteps ?? 1;
  const every = plan.checkpoints.every;
  const written = every ? Math.ceil(steps / every) : 1;
  const checkpointsHeld = Math.max(1, Math.min(written, plan.checkpoints.keep + 2));
  const save = plan.output.save;
  const merged = save === "adapter" ? 0 : plan.parameters.total * 4;
  const adapter = save === "merged" ? 0 : trainable * 4;
  const artefacts = merged + adapter + SMALL_FILES;
  return { checkpoint, checkpointsHeld, artefacts, total: checkpoint * checkpointsHeld + artefacts };
}

/** Throws a TrainError naming the folder and the bytes needed when its disk has less free than the run needs. */
export function checkDiskSpace(plan: Plan, free: number | null = freeBytesAt(plan.output.dir)): void {
  if (free === null) return;
  const e = diskEstimate(plan);
  if (free >= e.total) return;
  throw new TrainError(
    `not enough disk space for ${plan.output.dir}: the run writes about ${formatBytes(e.total)} (${e.checkpointsHeld} checkpoint(s) of ${formatBytes(e.checkpoint)} and ${formatBytes(e.artefacts)} of artefacts), ${formatBytes(free)} are free there; free some space, lower train.checkpointKeep, or choose another output.dir`,
  );
}
