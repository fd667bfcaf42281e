// An epoch's micro-batches from the plan: the realised mix, the batching schedule, and tensors' inputs.
import type { Plan } from "../compile/plan-schema.ts";
import { type BatchOptions, type BatchSchedule, planBatches } from "../data/batch/index.ts";
import { mixEpoch, type SplitData } from "../data/pipeline.ts";
import { IGNORE_INDEX, type TokenizedSample } from "../data/types.ts";
import type { TokenBatch } from "../model/batch.ts";
import { shiftLabels } from "../model/train-step.ts";

export interface MicroBatch {
  batch: TokenBatch;
  /** Labels aligned with the ids (-100 = not trained); the step shifts them. */
  labels: Int32Array;
  /** Real (non-padding) tokens. */
  tokens: number;
  /** Tokens in the loss once shifted. */
  trainedTokens: number;
}

/** The batching options the plan was made with (the same as the compiler's data stage). */
export function batchOptions(plan: Plan, epoch: number): BatchOptions {
  const b = plan.batching;
  const seed = plan.data.seed;
  if (b.mode === "packed") {
    const rows =
      b.microBatchSize ?? Math.floor((b.tokensPerMicroBatch ?? plan.data.maxLength) / plan.data.maxLength);
    return {
      mode: "pack",
      maxLength: plan.data.maxLength,
      rowsPerMicroBatch: Math.max(1, rows),
      seed,
      epoch,
    };
  }
  if (b.mode === "fixed") return { mode: "fixed", microBatchSize: b.microBatchSize ?? 1, seed, epoch };
  return { mode: "bucket", tokensPerMicroBatch: b.tokensPerMicroBatch ?? plan.data.maxLength, seed, epoch };
}

export interface EpochBatches {
  samples: TokenizedSample[];
  schedule: BatchSchedule;
}

/** Epoch `epoch`'s samples and micro-batches: a pure function of the data, the plan and the epoch. */
export function epochBatches(plan: Plan, prepared: SplitData, epoch: number): EpochBatches {
  const samples = mixEpoch(prepared, epoch, plan.data.seed);
  const schedule = planBatches(
    samples.map((s) => s.inputIds.length),
    batchOptions(plan, epoch),
  );
  return { samples, schedule };
}

export function microBatchCount(e: EpochBatches): number {
  return e.schedule.microBatches.length;
}

/** The inputs of micro-batch `index` of an epoch. */
export function microBatchAt(e: EpochBatches, index: number, padId: number): MicroBatch {
  const rows: { sample: TokenizedSample; start: number }[][] = [];
  let seqLen: number;
  switch (e.schedule.kind) {
    case "padded": {
      const mb = e.schedule.microBatches[index]!;
      for (const i of mb.samples) rows.push([{ sample: e.samples[i]!, start: 0 }]);
      seqLen = mb.paddedLength;
      break;
    }
    case "packed": {
      const mb = e.schedule.microBatches[index]!;
      for (const r of mb.rows)
        rows.push(r.segments.map((s) => ({ sample: e.samples[s.sample]!, start: s.start })));
      seqLen = mb.paddedLength;
      break;
    }
  }
  return fillBatch(rows, seqLen, padId);
}

/** Samples padded into rows of one length (several per row when packed), segment ids numbered from 1. */
export function fillBatch(
  rows: readonly (readonly { sample: TokenizedSample; start: number }[])[],
  seqLen: number,
  padId: number,
): MicroBatch {
  const n = rows.length * seqLen;
  const ids = new Int32Array(n).fill(padId);
  const segments = new Int32Array(n);
  const labels = new Int32Array(n).fill(IGNORE_INDEX);
  let tokens = 0;
  rows.forEach((row, r) => {
    row.forEach(({ sample, start }, k) => {
      const at = r * seqLen + start;
      for (let i = 0; i < sample.inputIds.length; i++) {
        ids[at + i] = sample.inputIds[i]!;
        labels[at + i] = sample.labels[i]!;
        segments[at + i] = k + 1;
      }
      tokens += sample.inputIds.length;
    });
  });
  const batch: TokenBatch = { batch: rows.length, seqLen, ids, segments };
  let trainedTokens = 0;
  for (const t of shiftLabels(batch, labels)) if (t !== IGNORE_INDEX) trainedTokens++;
  return { batch, labels, tokens, trainedTokens };
}
