// Gradient accumulation (sums of summed token losses), averaging over trained tokens, global-norm clipping.
import * as tf from "@tensorflow/tfjs-core";

/** Adds `next` into `acc` (by index), disposing what it replaces; returns the new sums. */
export function accumulate(acc: tf.Tensor[] | null, next: tf.Tensor[]): tf.Tensor[] {
  if (!acc) return next;
  return acc.map((a, i) => {
    const b = next[i]!;
    const s = tf.add(a, b);
    a.dispose();
    b.dispose();
    return s;
  });
}

/** sqrt of the sum of squares of every gradient. */
export async function globalNorm(grads: readonly tf.Tensor[]): Promise<number> {
  const t = tf.tidy(() => tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g))))));
  const n = (await t.data())[0]!;
  t.dispose();
  return n;
}

/**
 * Turns summed gradients into the mean over `tokens` trained tokens and clips their global norm to
 * `clipNorm` (0 = off), as torch's clip_grad_norm_ does. Disposes the inputs; returns the norm before clipping.
 */
export async function finishGradients(
  summed: tf.Tensor[],
  tokens: number,
  clipNorm: number,
): Promise<{ grads: tf.Tensor[]; norm: number }> {
  const inv = tokens > 0 ? 1 / tokens : 0;
  const norm = (await globalNorm(summed)) * inv;
  const clip = clipNorm > 0 && norm > clipNorm ? clipNorm / (norm + 1e-6) : 1;
  const scale = inv * clip;
  const grads = summed.map((g) => {
    const s = tf.mul(g, scale);
    g.dispose();
    return s;
  });
  return { grads, norm };
}
