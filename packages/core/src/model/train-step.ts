// Training-step building block: masked CE loss (summed over trained tokens) and its gradients.
import * as tf from "@tensorflow/tfjs-core";
import type { TokenBatch } from "./batch.ts";
import type { AdapterHooks, Model } from "./llama.ts";
import { crossEntropyReadsHeadRows, fusedCrossEntropy } from "./ops/cross-entropy.ts";

export interface StepInput {
  batch: TokenBatch;
  /**
   * [batch * seqLen] labels aligned with the ids as in transformers (-100 = not trained); the
   * shift happens here: position t is trained to predict labels[t + 1] of the same segment.
   */
  labels: Int32Array;
}

export interface LossAndGrads {
  /** Sum of token losses over trained tokens. */
  loss: number;
  /** Number of trained tokens (divide `loss` by it for the mean). */
  tokens: number;
  /** Gradient per trainable variable, same order as given; the caller disposes them. */
  grads: tf.Tensor[];
}

export interface StepOptions {
  hooks?: AdapterHooks;
  /** Rows of [rows x vocab] logits per cross-entropy chunk (default: about 4M logits). */
  chunkRows?: number;
  /** Gradient checkpointing: recompute each layer in the backward pass. */
  recompute?: boolean;
}

/** Shifted targets: target[t] = labels[t+1] when t+1 is in the same row and segment, else -100. */
export function shiftLabels(b: TokenBatch, labels: ArrayLike<number>): Int32Array {
  const { batch, seqLen } = b;
  if (labels.length !== batch * seqLen)
    throw new RangeError(`labels has ${labels.length} entries, the batch has ${batch * seqLen} tokens`);
  const out = new Int32Array(batch * seqLen).fill(-100);
  for (let r = 0; r < batch; r++) {
    for (let i = 0; i + 1 < seqLen; i++) {
      const k = r * seqLen + i;
      const same = !b.segments || (b.segments[k] !== 0 && b.segments[k] === b.segments[k + 1]);
      if (same) out[k] = labels[k + 1]!;
    }
  }
  return out;
}

/** The scalar loss tensor (sum over trained tokens) for use inside tf.variableGrads / tf.tidy. */
export function lossTensor(
  model: Model,
  input: StepInput,
  trainable: ReadonlySet<tf.Variable>,
  opts: StepOptions = {},
): tf.Scalar {
  const targets = shiftLabels(input.batch, input.labels);
  const h = model.hidden(input.batch, { trainable, hooks: opts.hooks, recompute: opts.recompute });
  const headVar = model.config.tieWordEmbeddings
    ? model.w("model.embed_tokens.weight")
    : model.w("lm_head.weight");
  // A tied head: the table is already the [V, d] layout the loss's row gradients need.
  const table = model.config.tieWordEmbeddings
    ? (opts.hooks?.table?.("model.embed_tokens.weight") ??
      (model.w("model.embed_tokens.weight") as tf.Tensor2D))
    : undefined;
  // Where the cross-entropy kernel reads the head by rows, a tied table is read transposed in
  // place: no [d, V] copy per step.
  const headRows = table !== undefined && crossEntropyReadsHeadRows();
  return fusedCrossEntropy(
    h,
    headRows ? table! : table ? tf.transpose(table) : model.lmHeadT(opts.hooks),
    targets,
    {
      table,
      headRows,
      chunkRows: opts.chunkRows,
      // A replaced table (trainable token rows) takes its gradient through the head too.
      weightGrad: trainable.has(headVar) || opts.hooks?.table !== undefined,
      softcap: model.config.finalLogitSoftcap ?? null,
    },
  );
}

/**
 * One forward + backward pass. `trainable` are the variables to differentiate (model weights
 * and/or adapter variables used by `opts.hooks`). Leaves no tensors behind except the returned grads.
 */
export async function lossAndGrads(
  model: Model,
  input: StepInput,
  trainable: readonly tf.Variable[],
  opts: StepOptions = {},
): Promise<LossAndGrads> {
  if (trainable.length === 0) throw new Error("lossAndGrads: no trainable variables");
  const set = new Set(trainable);
  let tokens = 0;
  const targets = shiftLabels(input.batch, input.labels);
  for (const t of targets) if (t !== -100) tokens++;
  const { value, grads } = tf.variableGrads(() => lossTensor(model, input, set, opts), [...trainable]);
  const loss = (await value.data())[0]!;
  value.dispose();
  return { loss, tokens, grads: trainable.map((v) => grads[v.name]!) };
}

/** Plain SGD update, in place (used by tests and the benchmark). */
export function sgdUpdate(vars: readonly tf.Variable[], grads: readonly tf.Tensor[], lr: number): void {
  tf.tidy(() => {
    vars.forEach((v, i) => {
      v.assign(tf.sub(v, tf.mul(grads[i]!, lr)));
    });
  });
}
