// One optimizer step's gradients: forward/backward over each micro-batch, summed, then averaged over
// every trained token of the step (not a mean of per-batch means) and clipped.
import type * as tf from "@tensorflow/tfjs-core";
import type { TokenBatch } from "../../model/batch.ts";
import type { Model } from "../../model/llama.ts";
import { lossAndGrads } from "../../model/train-step.ts";
import { accumulate, finishGradients } from "./grads.ts";
import type { MethodForward } from "./method-runtime.ts";

/** A micro-batch as the loop makes it: ids, labels aligned with them, and its real tokens. */
export interface MicroBatch {
  batch: TokenBatch;
  labels: Int32Array;
  tokens: number;
}

export interface StepGradients {
  /** Mean gradients over the step's trained tokens, clipped; the caller disposes them. */
  grads: tf.Tensor[];
  /** Global norm before clipping. */
  norm: number;
  /** Sum of token losses / trained tokens. */
  loss: number;
  trainedTokens: number;
  tokens: number;
}

export async function stepGradients(
  model: Model,
  vars: readonly tf.Variable[],
  microBatches: Iterable<MicroBatch>,
  opts: {
    forward: (k: number) => MethodForward;
    clipNorm: number;
    recompute?: boolean;
    onMicroBatch?: () => void;
  },
): Promise<StepGradients> {
  let summed: tf.Tensor[] | null = null;
  let lossSum = 0;
  let trained = 0;
  let tokens = 0;
  let k = 0;
  for (const mb of microBatches) {
    const fwd = opts.forward(k++);
    const r = await lossAndGrads(model, { batch: mb.batch, labels: mb.labels }, vars, {
      ...(fwd.hooks ? { hooks: fwd.hooks } : {}),
      recompute: fwd.recompute ?? opts.recompute ?? false,
    });
    summed = accumulate(summed, r.grads);
    lossSum += r.loss;
    trained += r.tokens;
    tokens += mb.tokens;
    opts.onMicroBatch?.();
  }
  if (!summed) throw new Error("stepGradients: no micro-batches");
  const { grads, norm } = await finishGradients(summed, trained, opts.clipNorm);
  return { grads, norm, loss: trained > 0 ? lossSum / trained : 0, trainedTokens: trained, tokens };
}
