// One optimizer step through the engine: forward/backward over each micro-batch (gradients summed in the
// engine), then the mean over every trained token of the step (not a mean of per-batch means), clip, AdamW.
import type { Engine } from "../engines/engine.ts";
import type { MicroBatch } from "./batches.ts";

export interface StepResult {
  /** Global gradient norm before clipping. */
  norm: number;
  /** Sum of token losses / trained tokens. */
  loss: number;
  trainedTokens: number;
  /** Real (non-padding) tokens. */
  tokens: number;
}

export async function trainStep(
  engine: Engine,
  microBatches: Iterable<MicroBatch>,
  opts: {
    /** Dropout seed of the k-th micro-batch of the step. */
    seed: (k: number) => number;
    learningRate: number;
    clipNorm: number;
    /** After each micro-batch: its index in the step and its summed loss (guards check it before the update). */
    onMicroBatch?: (k: number, lossSum: number) => void;
  },
): Promise<StepResult> {
  let lossSum = 0;
  let trained = 0;
  let tokens = 0;
  let k = 0;
  for (const mb of microBatches) {
    const r = await engine.forwardBackward({ ...mb.batch, labels: mb.labels }, { seed: opts.seed(k) });
    lossSum += r.lossSum;
    trained += r.trainedTokens;
    tokens += mb.tokens;
    opts.onMicroBatch?.(k++, r.lossSum);
  }
  if (k === 0) throw new Error("trainStep: no micro-batches");
  const { gradNorm } = await engine.applyStep({
    learningRate: opts.learningRate,
    clipNorm: opts.clipNorm,
    trainedTokens: trained,
  });
  return { norm: gradNorm, loss: trained > 0 ? lossSum / trained : 0, trainedTokens: trained, tokens };
}
