// One optimizer step through the engine: forward/backward over each micro-batch (gradients summed in the
// engine), then the mean over every trained token of the step (not a mean of per-batch means), clip, AdamW.
import type { Engine } from "../engines/engine.ts";
import type { MicroBatch } from "./batches.ts";

export interface StepResult {
  /** Global gradient norm before clipping (0 when no micro-batch was kept). */
  norm: number;
  /** Sum of token losses / trained tokens. */
  loss: number;
  trainedTokens: number;
  /** Real (non-padding) tokens. */
  tokens: number;
  /** Micro-batches dropped for a non-finite loss. */
  skipped: number;
  /** Micro-batches whose gradients reached the engine's update (all but the skipped ones). */
  kept: number;
  /**
   * False when nothing was applied: every micro-batch was dropped, or the engine refused a non-finite
   * gradient norm (engine.ts AppliedStep; its gradient sums are then cleared).
   */
  applied: boolean;
}

export async function trainStep(
  engine: Engine,
  microBatches: Iterable<MicroBatch>,
  opts: {
    /** Dropout seed of the k-th micro-batch of the step. */
    seed: (k: number) => number;
    learningRate: number;
    clipNorm: number;
    /**
     * After each micro-batch: its index in the step and its summed loss (guards check it before the update);
     * "skip" drops that micro-batch's gradients.
     */
    onMicroBatch?: (k: number, lossSum: number) => "skip" | undefined;
  },
): Promise<StepResult> {
  let lossSum = 0;
  let trained = 0;
  let tokens = 0;
  let k = 0;
  const kept: { mb: MicroBatch; seed: number }[] = [];
  for (const mb of microBatches) {
    const seed = opts.seed(k);
    const r = await engine.forwardBackward({ ...mb.batch, labels: mb.labels }, { seed });
    if (opts.onMicroBatch?.(k++, r.lossSum) === "skip") {
      await dropGradients(engine);
      // The engine sums gradients as it goes: the kept micro-batches' are computed again (same seeds).
      for (const p of kept)
        await engine.forwardBackward({ ...p.mb.batch, labels: p.mb.labels }, { seed: p.seed });
      continue;
    }
    kept.push({ mb, seed });
    lossSum += r.lossSum;
    trained += r.trainedTokens;
    tokens += mb.tokens;
  }
  if (k === 0) throw new Error("trainStep: no micro-batches");
  const skipped = k - kept.length;
  if (kept.length === 0)
    return { norm: 0, loss: 0, trainedTokens: 0, tokens: 0, skipped, kept: 0, applied: false };
  const { gradNorm, applied = true } = await engine.applyStep({
    learningRate: opts.learningRate,
    clipNorm: opts.clipNorm,
    trainedTokens: trained,
  });
  return {
    norm: gradNorm,
    loss: trained > 0 ? lossSum / trained : 0,
    trainedTokens: trained,
    tokens,
    skipped,
    kept: kept.length,
    applied,
  };
}

/**
 * Empties the engine's gradient sums through its public interface: an update at learning rate 0 clears them,
 * and the state read before it (weights, moments, step count) is written back, so nothing of it stays.
 */
async function dropGradients(engine: Engine): Promise<void> {
  const state = await engine.readState();
  await engine.applyStep({ learningRate: 0, clipNorm: 0, trainedTokens: 1 });
  await engine.writeState(state);
}
