// Cross-entropy: fused lm_head + masked softmax cross-entropy over the trained rows, in chunks.
import * as tf from "@tensorflow/tfjs-core";
import { freeing } from "../free.ts";
import { matMulAT, matMulBT } from "./matmul.ts";
import { kernel, type OpSpec } from "./registry.ts";

export const CROSS_ENTROPY: OpSpec = {
  op: "cross_entropy",
  formulation: "loss = sum over trained rows t of logsumexp(h[t] @ W) - (h[t] @ W)[label[t]]",
  gradient:
    "dlogits = softmax - onehot(label), formed in the forward pass; dh = dlogits @ W^T, dW = h^T @ dlogits",
  reference: {
    name: "fusedCrossEntropy",
    plan: () =>
      "fused lm_head + masked CE over trained rows only (labels != -100), loss summed; chunks of rows whose gradients are formed in the forward pass (no recomputed logits), at most one [chunk x vocab] block alive; a tied head reads the embedding table as is (one transpose, not two)",
  },
};

/** Whether fusedCrossEntropy takes a tied head as the [V, d] table as it lies (`headRows`). */
export function crossEntropyReadsHeadRows(): boolean {
  return kernel("cross_entropy") !== undefined;
}

/** Rows (token positions) whose label is trained, in order, and their labels. */
export function trainedRows(labels: ArrayLike<number>): { rows: Int32Array; targets: Int32Array } {
  let n = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] !== -100) n++;
  const rows = new Int32Array(n);
  const targets = new Int32Array(n);
  let j = 0;
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (l !== -100) {
      rows[j] = i;
      targets[j++] = l;
    }
  }
  return { rows, targets };
}

/**
 * Fused lm_head + masked cross-entropy, summed over trained tokens (labels != -100).
 * h: [T, d] final hidden states; wt: [d, V] (lm_head transposed). Only trained rows are
 * computed; logits are made `chunkRows` rows at a time and their gradients are formed right away
 * (kept as dh [T, d] and dW [d, V]), so at most one [chunk x V] block is alive at once.
 * `grad: false` computes the loss only (evaluation).
 */
export function fusedCrossEntropy(
  h: tf.Tensor2D,
  wt: tf.Tensor2D,
  labels: ArrayLike<number>,
  opts: {
    chunkRows?: number;
    weightGrad?: boolean;
    grad?: boolean;
    /** The same weights as [V, d] (a tied embedding table): saves transposing wt back. */
    table?: tf.Tensor2D;
    /**
     * wt is given as [V, d] (a tied table as it lies) and its gradient comes back in that layout:
     * the native tier reads it transposed in place, so the table is never copied.
     */
    headRows?: boolean;
    /** Logits capped as cap * tanh(logit / cap) first (Gemma 2): tfjs ops with their own gradients, unchunked. */
    softcap?: number | null;
  } = {},
): tf.Scalar {
  const { rows, targets } = trainedRows(labels);
  if (opts.softcap != null) return softcappedCrossEntropy(h, wt, rows, targets, opts.softcap, opts.headRows);
  const [T, d] = h.shape;
  const headRows = opts.headRows ?? false;
  // The registered cross-entropy kernel (the native tier) reads the head by rows; the reference does not.
  const fast = kernel("cross_entropy");
  if (headRows && !fast) throw new Error("fusedCrossEntropy: headRows needs the native tier");
  const V = headRows ? wt.shape[0] : wt.shape[1];
  for (const t of targets)
    if (t < 0 || t >= V) throw new RangeError(`label ${t} is outside the vocabulary (size ${V})`);
  const n = rows.length;
  if (n === 0) return tf.tidy(() => tf.mul(tf.sum(h), 0) as tf.Scalar);
  const chunk = Math.max(1, Math.min(n, opts.chunkRows ?? Math.max(1, Math.floor((1 << 22) / V))));
  const weightGrad = opts.weightGrad ?? true;
  const bounds: [number, number][] = [];
  for (let s = 0; s < n; s += chunk) bounds.push([s, Math.min(n, s + chunk)]);
  const rowIdx = bounds.map(([s, e]) => rows.subarray(s, e));
  const tgtIdx = bounds.map(([s, e]) => targets.subarray(s, e));

  // One pass per chunk computes the loss and, eagerly, the chunk's gradients (softmax - onehot),
  // so the backward pass only scales them: no second [chunk x V] matmul.
  const chunkPass = (hh: tf.Tensor2D, ww: tf.Tensor2D, w: tf.Tensor2D | null, c: number) => {
    const hc = tf.gather(hh, tf.tensor1d(rowIdx[c]!, "int32")) as tf.Tensor2D;
    const logits = (headRows ? tf.matMul(hc, ww, false, true) : tf.matMul(hc, ww)) as tf.Tensor2D;
    if (fast) {
      // One kernel pass: loss, and softmax - onehot in place of the max/exp/sum/oneHot chain.
      const { loss, g } = fast(logits, tgtIdx[c]!, w !== null);
      if (!g) return { loss: tf.scalar(loss), dh: null, dw: null };
      // BLAS reads the head transposed in place: no [V, d] copy.
      const dh = headRows ? tf.matMul(g, ww) : opts.table ? tf.matMul(g, opts.table) : matMulBT(g, ww);
      const dw = weightGrad ? (headRows ? matMulAT(g, hc) : matMulAT(hc, g)) : null;
      return { loss: tf.scalar(loss), dh, dw };
    }
    // One exp serves both the log-sum-exp and the softmax.
    const mx = tf.max(logits, 1, true);
    const e = tf.exp(tf.sub(logits, mx));
    const z = tf.sum(e, 1, true);
    const lse = tf.add(mx, tf.log(z));
    const flat = Int32Array.from(tgtIdx[c]!, (t, i) => i * V + t);
    const picked = tf.gather(tf.reshape(logits, [-1]), tf.tensor1d(flat, "int32"));
    const loss = tf.sum(tf.sub(tf.reshape(lse, [-1]), picked)) as tf.Scalar;
    if (!w) return { loss, dh: null, dw: null };
    const g = tf.sub(tf.div(e, z), tf.oneHot(tf.tensor1d(tgtIdx[c]!, "int32"), V)) as tf.Tensor2D;
    return { loss, dh: tf.matMul(g, w), dw: weightGrad ? tf.matMul(tf.transpose(hc), g) : null };
  };

  if (opts.grad === false) {
    return tf.tidy(() => {
      let total: tf.Scalar = tf.scalar(0);
      for (let c = 0; c < bounds.length; c++) total = tf.add(total, chunkPass(h, wt, null, c).loss);
      return total;
    });
  }

  const f = tf.customGrad((hi, wi, save) => {
    const hh = hi as tf.Tensor2D;
    const ww = wi as tf.Tensor2D;
    // [V, d]; the kernel's pass reads ww transposed in place instead (w only says "gradients").
    const w = opts.table ?? (fast ? ww : tf.transpose(ww));
    let total: tf.Scalar = tf.scalar(0);
    let dwt: tf.Tensor2D | null = weightGrad ? tf.zeros(headRows ? [V, d] : [d, V]) : null;
    const dRows: tf.Tensor2D[] = [];
    for (let c = 0; c < bounds.length; c++) {
      const [loss, dh, dw] = tf.tidy((): tf.Tensor[] => {
        const r = chunkPass(hh, ww, w, c);
        const acc = dwt && r.dw ? tf.add(dwt, r.dw) : null;
        return acc ? [tf.add(total, r.loss), r.dh!, acc] : [tf.add(total, r.loss), r.dh!];
      }) as [tf.Scalar, tf.Tensor2D, tf.Tensor2D | undefined];
      total.dispose();
      total = loss;
      dRows.push(dh);
      if (dw) {
        dwt?.dispose();
        dwt = dw;
      }
    }
    const dh = tf.tidy(() => tf.scatterND(tf.tensor2d(rows, [n, 1], "int32"), tf.concat(dRows), [T, d]));
    tf.dispose(dRows);
    (save as tf.GradSaveFunc)(dwt ? [dh, dwt] : [dh]);
    return {
      value: total,
      gradFunc: freeing((dy, saved) =>
        tf.tidy(() => [
          tf.mul(saved[0]!, dy as tf.Tensor),
          saved[1] ? tf.mul(saved[1], dy as tf.Tensor) : tf.zerosLike(wi as tf.Tensor2D),
        ]),
      ),
    };
  });
  return f(h, wt) as tf.Scalar;
}

/**
 * Cross-entropy over soft-capped logits, summed over the trained rows, with the gradients of plain tfjs ops:
 * every row's logits (no gather of h), and no max shift, which |logit| <= cap makes unnecessary.
 */
function softcappedCrossEntropy(
  h: tf.Tensor2D,
  wt: tf.Tensor2D,
  rows: Int32Array,
  targets: Int32Array,
  cap: number,
  headRows = false,
): tf.Scalar {
  return tf.tidy(() => {
    if (rows.length === 0) return tf.mul(tf.sum(h), 0) as tf.Scalar;
    const raw = headRows ? tf.matMul(h, wt, false, true) : tf.matMul(h, wt);
    const logits = tf.mul(tf.tanh(tf.div(raw, cap)), cap) as tf.Tensor2D;
    const [T, V] = logits.shape;
    const weight = new Float32Array(T);
    const target = new Int32Array(T);
    rows.forEach((r, i) => {
      weight[r] = 1;
      target[r] = targets[i]!;
    });
    const lse = tf.log(tf.sum(tf.exp(logits), 1));
    const picked = tf.sum(tf.mul(logits, tf.oneHot(tf.tensor1d(target, "int32"), V)), 1);
    return tf.sum(tf.mul(tf.sub(lse, picked), tf.tensor1d(weight))) as tf.Scalar;
  });
}
