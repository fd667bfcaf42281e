// AdamW (decoupled weight decay, as torch.optim.AdamW): one parameter's update, in place.
import * as tf from "@tensorflow/tfjs-core";
import { type AdamWStep, kernel, type OpSpec } from "./registry.ts";

export const ADAMW: OpSpec = {
  op: "adamw",
  formulation:
    "m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2; p = p*(1 - lr*wd) - (lr/c1) * m / (sqrt(v/c2) + eps), c = 1 - b^t",
  gradient: "none (an update)",
  reference: { name: "adamw", plan: () => "tfjs ops per parameter (m, v, p updated in turn)" },
};

/** One AdamW step of p with gradient g and moments m, v (all updated in place). */
export function adamwUpdate(
  p: tf.Variable,
  g: tf.Tensor,
  m: tf.Variable,
  v: tf.Variable,
  s: AdamWStep,
): void {
  const fast = kernel("adamw");
  if (fast) {
    const out = fast(p, g, m, v, s);
    p.assign(out[0]);
    m.assign(out[1]);
    v.assign(out[2]);
    tf.dispose(out);
    return;
  }
  tf.tidy(() => {
    const m1 = tf.add(tf.mul(m, s.beta1), tf.mul(g, 1 - s.beta1));
    const v1 = tf.add(tf.mul(v, s.beta2), tf.mul(tf.square(g), 1 - s.beta2));
    m.assign(m1);
    v.assign(v1);
    const denom = tf.add(tf.sqrt(tf.div(v1, s.c2)), s.eps);
    const stepT = tf.div(tf.mul(m1, s.lr / s.c1), denom);
    const base = s.weightDecay > 0 ? tf.mul(p, 1 - s.lr * s.weightDecay) : p;
    p.assign(tf.sub(base, stepT));
  });
}
