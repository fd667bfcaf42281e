// Frees activations as soon as the backward pass has used them. tfjs's tape keeps every node's
// saved tensors and every intermediate gradient (dy) until the whole gradients() call ends; the
// tape is walked from the loss back, and when a node's gradient has run, its dy (final: every
// consumer of its output came later in the tape) and its saved copies (clones the engine made for
// this node alone) are never read again. Freeing them there turns the peak from "everything saved
// plus every gradient" into "what is still saved plus a layer's worth of gradients".
//
// Safe only where dy comes from the tape (tf.variableGrads / engine.gradients without an explicit
// dy, as this codebase uses them); a tensor a gradient returns is never freed (disposing a tensor
// that shares data, e.g. a reshape of dy, only drops one reference).
import type * as tf from "@tensorflow/tfjs-core";

type Grads = tf.Tensor | tf.Tensor[];

function release(results: readonly tf.Tensor[], dy: Grads, saved: readonly tf.Tensor[]): void {
  const keep = new Set(results);
  for (const t of Array.isArray(dy) ? dy : [dy]) if (!keep.has(t)) t.dispose();
  for (const t of saved) if (!keep.has(t)) t.dispose();
}

/** A tf.customGrad gradFunc that frees dy and its saved tensors once it has returned. */
export function freeing<R extends Grads>(
  gradFunc: (dy: Grads, saved: tf.Tensor[]) => R,
): (dy: Grads, saved: tf.Tensor[]) => R {
  return (dy, saved) => {
    flushPending();
    const out = gradFunc(dy, saved);
    release(Array.isArray(out) ? out : [out], dy, saved);
    return out;
  };
}

// A registered gradient returns one thunk per input, and the tape calls only those of the inputs
// on the path to the trained variables: the frees wait for the next node's gradient to start.
let pending: (() => void) | null = null;

function flushPending(): void {
  const p = pending;
  pending = null;
  p?.();
}

/** A registered gradient whose dy and saved tensors are freed once the tape has moved on. */
export function freeingConfig(c: tf.GradConfig): tf.GradConfig {
  const g = c.gradFunc;
  if (!g) return c;
  return {
    ...c,
    gradFunc: (dy, saved, attrs) => {
      flushPending();
      const thunks = g(dy, saved, attrs);
      const results: tf.Tensor[] = [];
      const out: Record<string, () => tf.Tensor> = {};
      for (const [k, thunk] of Object.entries(thunks)) {
        out[k] = () => {
          const r = thunk();
          results.push(r);
          return r;
        };
      }
      pending = () => release(results, dy, saved);
      return out;
    },
  };
}
