// The batching numbers of an epoch's schedule (micro-batches, tokens, padding, longest row), from the
// samples' lengths: the data stage computes them with the recipe's budget, the planner again when a GPU
// plan sizes the micro-batch (compile/engine-gpu.ts).
import { planBatches } from "../data/batch/index.ts";
import type { Recipe } from "../recipe/schema/recipe.ts";

export interface ScheduleFacts {
  microBatchesPerEpoch: number;
  tokensPerEpoch: number;
  paddingFraction: number;
  longestRow: number;
}

/** `budget`: tokens per micro-batch (bucketed, or rows of maxLength when packed). */
export function scheduleFacts(
  lengths: readonly number[],
  train: Recipe["train"],
  seed: number,
  budget: number,
): ScheduleFacts {
  const schedule = planBatches(
    lengths,
    train.packing
      ? {
          mode: "pack",
          maxLength: train.maxLength,
          rowsPerMicroBatch: train.microBatchSize ?? Math.floor(budget / train.maxLength),
          seed,
        }
      : train.microBatchSize !== undefined
        ? { mode: "fixed", microBatchSize: train.microBatchSize, seed }
        : { mode: "bucket", tokensPerMicroBatch: budget, seed },
  );
  return {
    microBatchesPerEpoch: schedule.summary.microBatches,
    tokensPerEpoch: schedule.summary.tokens,
    paddingFraction: schedule.summary.paddingFraction,
    longestRow: schedule.summary.longestRow,
  };
}
