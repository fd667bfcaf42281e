// Numerical guards: a non-finite loss or gradient norm stops the run at once, naming the step, the
// micro-batch and its source rows, so nothing is saved from the bad state and the last checkpoint stays good.
import { relative } from "node:path";
import type { BatchSchedule } from "../data/batch/index.ts";
import { unreachable } from "../util/unreachable.ts";
import type { EpochBatches } from "./batches.ts";
import { TrainError } from "./errors.ts";

export class NonFiniteError extends TrainError {
  override name = "NonFiniteError";
}

export interface GuardPlace {
  /** The optimizer step being trained (1-based, as metrics.jsonl numbers it). */
  step: number;
  epoch: EpochBatches;
  epochIndex: number;
  /** The checkpoint a resume would start from (nothing newer is written). */
  lastCheckpoint: string | null;
}

/** `file:line` of each sample in micro-batch `index` of an epoch (packed rows list every segment). */
export function microBatchRows(epoch: EpochBatches, index: number): string[] {
  const s = epoch.schedule;
  const ids = sampleIds(s, index);
  return ids.map((i) => {
    const o = epoch.samples[i]?.origin;
    if (!o) return `sample ${i}`;
    const file = relative(process.cwd(), o.file) || o.file;
    return o.line !== undefined ? `${file}:${o.line}` : `${file}#${o.index}`;
  });
}

/** The samples of micro-batch `index`, in row order. */
function sampleIds(s: BatchSchedule, index: number): number[] {
  switch (s.kind) {
    case "padded":
      return s.microBatches[index]?.samples ?? [];
    case "packed":
      return (s.microBatches[index]?.rows ?? []).flatMap((r) => r.segments.map((g) => g.sample));
    default:
      return unreachable(s, "batch schedule");
  }
}

/** Where a non-finite value came from: the step and the micro-batch(es). */
function whereFrom(place: GuardPlace, micro: number[]): string {
  const batches =
    micro.length === 1 ? `micro-batch ${micro[0]}` : `micro-batches ${micro[0]}-${micro.at(-1)}`;
  return `step ${place.step}, ${batches} of epoch ${place.epochIndex}`;
}

/** Their source rows (the first 8). */
function rowsOf(place: GuardPlace, micro: number[]): string {
  const rows = [...new Set(micro.flatMap((k) => microBatchRows(place.epoch, k)))];
  return rows.slice(0, 8).join(", ") + (rows.length > 8 ? `, ... (${rows.length} rows)` : "") || "-";
}

function fail(place: GuardPlace, what: string, micro: number[]): never {
  throw new NonFiniteError(
    `${whereFrom(place, micro)}: ${what}; rows: ${rowsOf(place, micro)}. ` +
      "Stopped: nothing was saved from this state. " +
      (place.lastCheckpoint
        ? `The last good checkpoint is ${place.lastCheckpoint} (continue from it with --resume once the cause is fixed: a lower learning rate, or the rows above).`
        : "No checkpoint was written before it (lower the learning rate, or check the rows above)."),
  );
}

/** A skip budget (train.skipNonFinite): how many non-finite micro-batches may still be dropped. */
export interface SkipBudget {
  allowed: number;
  used: number;
}

/**
 * Checks one micro-batch's summed loss (micro-batch `index` of the epoch). A non-finite one is dropped while
 * the budget lasts (returns a line saying which, for the log); past it, or without one, the run stops.
 */
export function guardMicroBatchLoss(
  place: GuardPlace,
  index: number,
  lossSum: number,
  budget?: SkipBudget,
): string | null {
  if (Number.isFinite(lossSum)) return null;
  const what = `the loss is ${lossSum}`;
  if (!budget || budget.used >= budget.allowed)
    fail(place, budget ? `${what}, and train.skipNonFinite (${budget.allowed}) is used up` : what, [index]);
  budget.used++;
  return `${whereFrom(place, [index])}: ${what}; skipped (${budget.used} of ${budget.allowed} allowed by train.skipNonFinite); rows: ${rowsOf(place, [index])}`;
}

/**
 * Checks a finished step: its mean loss and gradient norm over micro-batches `first` to `end - 1`, `kept` of
 * them trained. A non-finite norm the engine did not apply (`applied` false) drops those `kept` micro-batches
 * while the budget holds them (returns a line for the log); an applied one, or past the budget, stops the run.
 */
export function guardStep(
  place: GuardPlace,
  micro: { first: number; end: number },
  r: { loss: number; norm: number; kept: number; applied: boolean },
  budget?: SkipBudget,
): string | null {
  const all = Array.from({ length: micro.end - micro.first }, (_, i) => micro.first + i);
  if (!Number.isFinite(r.loss)) fail(place, `the loss is ${r.loss}`, all);
  if (Number.isFinite(r.norm)) return null;
  const what = `the gradient norm is ${r.norm}`;
  if (!budget) fail(place, what, all);
  // An engine that applied it (one not reporting AppliedStep.applied) left the state non-finite: no skip.
  if (r.applied)
    fail(place, `${what}, and the engine applied that update, so train.skipNonFinite cannot skip it`, all);
  if (budget.used + r.kept > budget.allowed)
    fail(place, `${what}, and train.skipNonFinite (${budget.allowed}) is used up`, all);
  budget.used += r.kept;
  return `${whereFrom(place, all)}: ${what}; the update was not applied, ${r.kept} micro-batch(es) skipped (${budget.used} of ${budget.allowed} allowed by train.skipNonFinite); rows: ${rowsOf(place, all)}`;
}

/**
 * The update of step `step` left a weight or moment non-finite (the loss and norm before it were finite: a
 * learning rate far too high, say), found as a checkpoint or artefact refused to write it.
 */
export function nonFiniteState(
  step: number,
  lastCheckpoint: string | null,
  e: { tensor: string; value: number; index: number },
): NonFiniteError {
  return new NonFiniteError(
    `step ${step}: the update left tensor "${e.tensor}" holding ${e.value} at index ${e.index}. ` +
      "Stopped: nothing was saved from this state. " +
      (lastCheckpoint
        ? `The last good checkpoint is ${lastCheckpoint} (continue from it with --resume once the cause is fixed: a lower learning rate, or clipNorm).`
        : "No checkpoint was written before it (lower the learning rate, or set clipNorm)."),
  );
}
