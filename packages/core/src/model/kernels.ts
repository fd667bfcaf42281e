// Hand-shaped ops: on wasm only a plain 2-D non-transposed matMul reaches XNNPACK, gather's
// gradient (UnsortedSegmentSum) is missing, and full [rows x vocab] logits are too large to keep.
import * as tf from "@tensorflow/tfjs-core";
import "./gradients.ts";
import { freeing } from "./free.ts";
import { nativeSoftmaxXent } from "./native/fused.ts";
import { nativeAddon } from "./native/load.ts";

/** What each op compiles to; the planner records this in the plan's kernels section. */
export function describeKernels(backend: string, native = false): { op: string; formulation: string }[] {
  if (backend === "wasm" && native) return NATIVE_KERNELS;
  const plain =
    backend === "wasm"
      ? "2-D non-transposed matMul (XNNPACK); transposes are explicit copies (our Transpose kernel)"
      : "2-D matMul with explicit transposes";
  return [
    ...(backend === "wasm"
      ? [
          {
            op: "transpose",
            formulation:
              "registered wasm Transpose kernel: swaps of the last two axes as 16x16-tiled copies between places on the wasm heap (5-15x tfjs's); other permutations use tfjs's",
          },
        ]
      : []),
    {
      op: "linear",
      formulation: `y = x[T,in] @ Wt[in,out]; dx = dy @ transpose(Wt); dWt = transpose(x) @ dy; ${plain}`,
    },
    {
      op: "embedding",
      formulation:
        "forward gather rows; gradient scatterNd (scatter-add of row gradients), no UnsortedSegmentSum",
    },
    {
      op: "cross_entropy",
      formulation:
        "fused lm_head + masked CE over trained rows only (labels != -100), loss summed; chunks of rows whose gradients are formed in the forward pass (no recomputed logits), at most one [chunk x vocab] block alive; a tied head reads the embedding table as is (one transpose, not two)",
    },
    {
      op: "attention",
      formulation:
        "batched matMul per kv-head group ([B,KV,G*S,hd] x [B,KV,S,hd]^T), additive block-diagonal causal mask, no per-head slices",
    },
    {
      op: "rope",
      formulation: "rotate-half as x*cos + (x @ R)*sin with a constant [hd,hd] rotation, plain matMul",
    },
    { op: "rmsnorm", formulation: "x * rsqrt(mean(x^2) + eps) * w, built-in gradients" },
    { op: "swiglu", formulation: "silu(gate) * up, built-in gradients" },
  ];
}

/** a @ b^T: BLAS reads b transposed in place on the native tier; XNNPACK needs an explicit copy. */
export function matMulBT(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return nativeAddon() ? tf.matMul(a, b, false, true) : tf.matMul(a, tf.transpose(b));
}

/** a^T @ b, as matMulBT. */
export function matMulAT(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return nativeAddon() ? tf.matMul(a, b, true, false) : tf.matMul(tf.transpose(a), b);
}

/** The optional native tier's formulations (@sftkit/native on the wasm backend). */
const NATIVE_KERNELS: { op: string; formulation: string }[] = [
  {
    op: "matmul",
    formulation:
      "native BLAS sgemm (OpenBLAS) reading and writing the wasm heap in place; transposed operands read as they lie (no copies); small plain products stay on XNNPACK",
  },
  {
    op: "linear",
    formulation: "y = x[T,in] @ Wt[in,out]; dx = dy @ Wt^T; dWt = x^T @ dy (BLAS transposes, no copies)",
  },
  {
    op: "embedding",
    formulation: "forward gather rows; gradient scatterNd (scatter-add of row gradients)",
  },
  {
    op: "cross_entropy",
    formulation:
      "fused lm_head + masked CE over trained rows, in chunks; softmax, loss and (softmax - onehot) in one native pass per chunk",
  },
  {
    op: "attention",
    formulation:
      "fused native kernel on the [tokens, heads x hd] layout: per (row, head) BLAS products with strided operands (no transposes), softmax in C, probabilities kept for the backward pass",
  },
  { op: "rope", formulation: "fused native rotate-half kernel; gradient is the inverse rotation" },
  { op: "rmsnorm", formulation: "fused native kernel saving 1/rms per row; fused backward" },
  { op: "swiglu", formulation: "fused native silu(gate) * up and its backward" },
];

/**
 * Tensors made in a forward pass are disposed before the backward pass runs unless saved (which
 * copies them), so only non-variable inputs are saved; variables outlive the pass.
 */
function saveable(t: tf.Tensor): boolean {
  return !(t instanceof tf.Variable);
}

/**
 * y = x @ wt (+ b) with wt stored as [in, out]. Gradients use only plain 2-D matmuls.
 * With `weightGrad` false (a frozen weight) no weight gradient is computed.
 */
export function linear(
  x: tf.Tensor2D,
  wt: tf.Tensor2D,
  b: tf.Tensor1D | null,
  weightGrad = true,
): tf.Tensor2D {
  if (!weightGrad) {
    const f = tf.customGrad((xi, save) => {
      const keepW = saveable(wt);
      if (keepW) (save as tf.GradSaveFunc)([wt]);
      const value = tf.matMul(xi as tf.Tensor2D, wt);
      return {
        value,
        gradFunc: freeing((dy, saved) => [
          tf.tidy(() => matMulBT(dy as tf.Tensor2D, keepW ? (saved[0] as tf.Tensor2D) : wt)),
        ]),
      };
    });
    const y = f(x) as tf.Tensor2D;
    return b ? tf.add(y, b) : y;
  }
  const f = tf.customGrad((xi, wi, save) => {
    const xx = xi as tf.Tensor2D;
    const ww = wi as tf.Tensor2D;
    const keepW = saveable(ww);
    (save as tf.GradSaveFunc)(keepW ? [xx, ww] : [xx]);
    const value = tf.matMul(xx, ww);
    return {
      value,
      gradFunc: freeing((dy, saved) =>
        tf.tidy(() => {
          const d = dy as tf.Tensor2D;
          const xs = saved[0] as tf.Tensor2D;
          const ws = keepW ? (saved[1] as tf.Tensor2D) : ww;
          return [matMulBT(d, ws), matMulAT(xs, d)];
        }),
      ),
    };
  });
  const y = f(x, wt) as tf.Tensor2D;
  return b ? tf.add(y, b) : y;
}

/** Row lookup table[ids] with a scatter-add gradient (wasm has no UnsortedSegmentSum). */
export function embedding(table: tf.Tensor2D, ids: Int32Array): tf.Tensor2D {
  const [vocab, dim] = table.shape;
  // ids are re-uploaded in the backward pass: forward tensors are gone by then.
  const f = tf.customGrad((t, _save) => {
    const value = tf.gather(t as tf.Tensor2D, tf.tensor1d(ids, "int32"));
    return {
      value,
      gradFunc: freeing((dy) =>
        tf.tidy(() => [
          tf.scatterND(tf.tensor2d(ids, [ids.length, 1], "int32"), dy as tf.Tensor2D, [
            vocab,
            dim,
          ]) as tf.Tensor2D,
        ]),
      ),
    };
  });
  return f(table) as tf.Tensor2D;
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
  } = {},
): tf.Scalar {
  const { rows, targets } = trainedRows(labels);
  const [T, d] = h.shape;
  const headRows = opts.headRows ?? false;
  if (headRows && !nativeAddon()) throw new Error("fusedCrossEntropy: headRows needs the native tier");
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
    if (nativeAddon()) {
      // One native pass: loss, and softmax - onehot in place of the max/exp/sum/oneHot chain.
      const { loss, g } = nativeSoftmaxXent(logits, tgtIdx[c]!, w !== null);
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
    // [V, d]; the native pass reads ww transposed in place instead (w only says "gradients").
    const w = opts.table ?? (nativeAddon() ? ww : tf.transpose(ww));
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
 * Causal attention over kv-head groups without batched matmuls (slow loops on wasm) and without
 * tf.slice (copies its whole input per slice on wasm): q/k/v are read once into JS and each
 * (row, kv head) block is uploaded as its own 2-D tensor, so every matmul is a plain 2-D call.
 * q: [B, KV, G*S, hd], k/v: [B, KV, K, hd], mask: additive [B, S, K]. Returns [B, KV, G*S, hd].
 */
export function blockAttention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  mask: Float32Array,
  scale: number,
  withGrad: boolean,
): tf.Tensor4D {
  const [B, KV, GS, hd] = q.shape;
  const K = k.shape[2];
  const S = mask.length / (B * K);
  const G = GS / S;
  // Mask rows repeated for the G query heads that share a kv head.
  const masks: Float32Array[] = [];
  for (let b = 0; b < B; b++) {
    const mb = new Float32Array(GS * K);
    for (let g = 0; g < G; g++) mb.set(mask.subarray(b * S * K, (b + 1) * S * K), g * S * K);
    masks.push(mb);
  }
  const qSize = GS * hd;
  const kSize = K * hd;

  // Transposes are done once for all blocks ([.., K, hd] -> [.., hd, K]), not per block.
  const transposedData = (t: tf.Tensor): Float32Array => {
    const tt = tf.transpose(t, [0, 1, 3, 2]);
    const d = tt.dataSync() as Float32Array;
    tt.dispose();
    return d;
  };

  const forward = (qd: Float32Array, kTd: Float32Array, vd: Float32Array) => {
    const outs: tf.Tensor[] = [];
    const probs: tf.Tensor[] = [];
    for (let b = 0; b < B; b++) {
      const mb = tf.tensor2d(masks[b]!, [GS, K]);
      for (let h = 0; h < KV; h++) {
        const i = b * KV + h;
        const [o, p] = tf.tidy(() => {
          const qb = tf.tensor2d(qd.subarray(i * qSize, (i + 1) * qSize), [GS, hd]);
          const kTb = tf.tensor2d(kTd.subarray(i * kSize, (i + 1) * kSize), [hd, K]);
          const vb = tf.tensor2d(vd.subarray(i * kSize, (i + 1) * kSize), [K, hd]);
          const p = tf.softmax(tf.add(tf.mul(tf.matMul(qb, kTb), scale), mb));
          return [tf.matMul(p, vb), p];
        });
        outs.push(o);
        if (withGrad) probs.push(p);
        else p.dispose();
      }
      mb.dispose();
    }
    const out = tf.reshape(tf.concat(outs), [B, KV, GS, hd]) as tf.Tensor4D;
    tf.dispose(outs);
    const p = withGrad ? tf.concat(probs) : null;
    tf.dispose(probs);
    return { out, p };
  };

  if (!withGrad) {
    const { out } = forward(q.dataSync() as Float32Array, transposedData(k), v.dataSync() as Float32Array);
    return out;
  }
  const f = tf.customGrad((qi, ki, vi, save) => {
    const { out, p } = forward(
      (qi as tf.Tensor).dataSync() as Float32Array,
      transposedData(ki as tf.Tensor),
      (vi as tf.Tensor).dataSync() as Float32Array,
    );
    (save as tf.GradSaveFunc)([qi as tf.Tensor, ki as tf.Tensor, vi as tf.Tensor, p!]);
    p!.dispose();
    return {
      value: out,
      gradFunc: freeing((dy, saved) => {
        const [qs, ks, vs, ps] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        const qTd = transposedData(qs);
        const kd = ks.dataSync() as Float32Array;
        const vTd = transposedData(vs);
        const pd = ps.dataSync() as Float32Array;
        const p4 = tf.reshape(ps, [B, KV, GS, K]);
        const pTd = transposedData(p4);
        p4.dispose();
        const dyd = (dy as tf.Tensor).dataSync() as Float32Array;
        const dqs: tf.Tensor[] = [];
        const dks: tf.Tensor[] = [];
        const dvs: tf.Tensor[] = [];
        const pSize = GS * K;
        for (let i = 0; i < B * KV; i++) {
          const [dq, dk, dv] = tf.tidy(() => {
            const qTb = tf.tensor2d(qTd.subarray(i * qSize, (i + 1) * qSize), [hd, GS]);
            const kb = tf.tensor2d(kd.subarray(i * kSize, (i + 1) * kSize), [K, hd]);
            const vTb = tf.tensor2d(vTd.subarray(i * kSize, (i + 1) * kSize), [hd, K]);
            const pTb = tf.tensor2d(pTd.subarray(i * pSize, (i + 1) * pSize), [K, GS]);
            const pb = tf.tensor2d(pd.subarray(i * pSize, (i + 1) * pSize), [GS, K]);
            const dob = tf.tensor2d(dyd.subarray(i * qSize, (i + 1) * qSize), [GS, hd]);
            const dp = tf.matMul(dob, vTb);
            const dv = tf.matMul(pTb, dob);
            const ds = tf.mul(tf.mul(pb, tf.sub(dp, tf.sum(tf.mul(dp, pb), -1, true))), scale) as tf.Tensor2D;
            // dk^T = q^T ds: one transpose for all blocks at the end.
            return [tf.matMul(ds, kb), tf.matMul(qTb, ds), dv];
          });
          dqs.push(dq);
          dks.push(dk);
          dvs.push(dv);
        }
        const grads = [
          tf.reshape(tf.concat(dqs), [B, KV, GS, hd]),
          tf.tidy(() => tf.transpose(tf.reshape(tf.concat(dks), [B, KV, hd, K]), [0, 1, 3, 2])),
          tf.reshape(tf.concat(dvs), [B, KV, K, hd]),
        ];
        tf.dispose([...dqs, ...dks, ...dvs]);
        return grads;
      }),
    };
  });
  return f(q, k, v) as tf.Tensor4D;
}

/** tf.reshape whose gradient keeps no copy of its input (tfjs's Reshape gradient saves one). */
export function reshapeLean<T extends tf.Tensor>(x: tf.Tensor, shape: number[]): T {
  const inShape = x.shape;
  const f = tf.customGrad((xi, _save) => ({
    value: tf.reshape(xi as tf.Tensor, shape),
    gradFunc: freeing((dy) => tf.reshape(dy as tf.Tensor, inShape)),
  }));
  return f(x) as T;
}

/** a + b for same-shaped tensors, keeping no copies for the gradient (tfjs's Add saves both). */
export function addLean<T extends tf.Tensor>(a: T, b: tf.Tensor): T {
  if (a.shape.length !== b.shape.length || a.shape.some((s, i) => s !== b.shape[i]))
    throw new Error(`addLean: shapes [${a.shape}] and [${b.shape}] differ`);
  const f = tf.customGrad((ai, bi, _save) => ({
    value: tf.add(ai as tf.Tensor, bi as tf.Tensor),
    // Two distinct tensor objects over the same data: no copy.
    gradFunc: freeing((dy) => [tf.reshape(dy as tf.Tensor, a.shape), tf.reshape(dy as tf.Tensor, a.shape)]),
  }));
  return f(a, b) as T;
}
