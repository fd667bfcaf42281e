// Gradients for the kernels our forward uses. @tensorflow/tfjs-core's Node bundle registers none
// (only the @tensorflow/tfjs union does), and writing them here lets each choose plain 2-D matmuls.
import * as tf from "@tensorflow/tfjs-core";
import { freeingConfig } from "./free.ts";

const { getReductionAxes } = tf.backend_util;

/** Sums a broadcast gradient back to `shape`. */
function reduceTo(dy: tf.Tensor, shape: number[]): tf.Tensor {
  const axes = getReductionAxes(shape, dy.shape);
  const r = axes.length ? tf.sum(dy, axes) : dy;
  return tf.reshape(r, shape);
}

function axesOf(axis: unknown, rank: number): number[] {
  const list =
    axis === undefined || axis === null ? [...Array(rank).keys()] : Array.isArray(axis) ? axis : [axis];
  return (list as number[]).map((a) => (a < 0 ? a + rank : a));
}

/** dy reshaped with the reduced axes kept (size 1), for broadcasting back over x. */
function keepDims(dy: tf.Tensor, xShape: number[], axes: number[]): tf.Tensor {
  const s = xShape.slice();
  for (const a of axes) s[a] = 1;
  return tf.reshape(dy, s);
}

/** 2-D: plain matmuls with explicit transposes (the fast path on wasm); batched: transposed flags. */
function mm(a: tf.Tensor, b: tf.Tensor, ta: boolean, tb: boolean): tf.Tensor {
  if (a.rank === 2 && b.rank === 2) {
    return tf.matMul(ta ? tf.transpose(a) : (a as tf.Tensor2D), tb ? tf.transpose(b) : (b as tf.Tensor2D));
  }
  return tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D, ta, tb);
}

const configs: tf.GradConfig[] = [
  {
    kernelName: "Add",
    inputsToSave: ["a", "b"],
    gradFunc: (dy, [a, b]) => ({
      a: () => reduceTo(dy as tf.Tensor, a!.shape),
      b: () => reduceTo(dy as tf.Tensor, b!.shape),
    }),
  },
  {
    kernelName: "Sub",
    inputsToSave: ["a", "b"],
    gradFunc: (dy, [a, b]) => ({
      a: () => reduceTo(dy as tf.Tensor, a!.shape),
      b: () => tf.neg(reduceTo(dy as tf.Tensor, b!.shape)),
    }),
  },
  {
    kernelName: "Multiply",
    inputsToSave: ["a", "b"],
    gradFunc: (dy, [a, b]) => ({
      a: () => reduceTo(tf.mul(dy as tf.Tensor, b!), a!.shape),
      b: () => reduceTo(tf.mul(dy as tf.Tensor, a!), b!.shape),
    }),
  },
  {
    kernelName: "RealDiv",
    inputsToSave: ["a", "b"],
    gradFunc: (dy, [a, b]) => ({
      a: () => reduceTo(tf.div(dy as tf.Tensor, b!), a!.shape),
      b: () => reduceTo(tf.neg(tf.div(tf.mul(dy as tf.Tensor, a!), tf.square(b!))), b!.shape),
    }),
  },
  { kernelName: "Cast", gradFunc: (dy) => ({ x: () => tf.clone(dy as tf.Tensor) }) },
  { kernelName: "Neg", gradFunc: (dy) => ({ x: () => tf.neg(dy as tf.Tensor) }) },
  {
    kernelName: "Square",
    inputsToSave: ["x"],
    gradFunc: (dy, [x]) => ({ x: () => tf.mul(dy as tf.Tensor, tf.mul(x!, 2)) }),
  },
  {
    kernelName: "Rsqrt",
    inputsToSave: ["x"],
    gradFunc: (dy, [x]) => ({ x: () => tf.mul(dy as tf.Tensor, tf.mul(tf.div(tf.rsqrt(x!), x!), -0.5)) }),
  },
  {
    kernelName: "Sigmoid",
    outputsToSave: [true],
    gradFunc: (dy, [y]) => ({ x: () => tf.mul(dy as tf.Tensor, tf.mul(y!, tf.sub(1, y!))) }),
  },
  {
    // Gemma's soft-capping (cap * tanh(x / cap)) and GeGLU's tanh GELU.
    kernelName: "Tanh",
    outputsToSave: [true],
    gradFunc: (dy, [y]) => ({ x: () => tf.mul(dy as tf.Tensor, tf.sub(1, tf.square(y!))) }),
  },
  {
    kernelName: "Exp",
    outputsToSave: [true],
    gradFunc: (dy, [y]) => ({ x: () => tf.mul(dy as tf.Tensor, y!) }),
  },
  {
    kernelName: "Log",
    inputsToSave: ["x"],
    gradFunc: (dy, [x]) => ({ x: () => tf.div(dy as tf.Tensor, x!) }),
  },
  {
    kernelName: "Softmax",
    outputsToSave: [true],
    gradFunc: (dy, [y], attrs) => {
      const dim = (attrs as unknown as { dim: number }).dim;
      return {
        logits: () => {
          const g = tf.mul(dy as tf.Tensor, y!);
          return tf.sub(g, tf.mul(tf.sum(g, dim, true), y!));
        },
      };
    },
  },
  {
    kernelName: "Sum",
    inputsToSave: ["x"],
    gradFunc: (dy, [x], attrs) => {
      const axes = axesOf((attrs as { axis?: unknown }).axis, x!.rank);
      return { x: () => tf.mul(keepDims(dy as tf.Tensor, x!.shape, axes), tf.onesLike(x!)) };
    },
  },
  {
    kernelName: "Mean",
    inputsToSave: ["x"],
    gradFunc: (dy, [x], attrs) => {
      const axes = axesOf((attrs as { axis?: unknown }).axis, x!.rank);
      const n = axes.reduce((p, a) => p * x!.shape[a]!, 1);
      return { x: () => tf.mul(keepDims(dy as tf.Tensor, x!.shape, axes), tf.fill(x!.shape, 1 / n)) };
    },
  },
  {
    kernelName: "Reshape",
    inputsToSave: ["x"],
    gradFunc: (dy, [x]) => ({ x: () => tf.reshape(dy as tf.Tensor, x!.shape) }),
  },
  {
    kernelName: "ExpandDims",
    inputsToSave: ["input"],
    gradFunc: (dy, [x]) => ({ input: () => tf.reshape(dy as tf.Tensor, x!.shape) }),
  },
  {
    kernelName: "Transpose",
    gradFunc: (dy, _saved, attrs) => {
      const perm = (attrs as unknown as { perm: number[] }).perm;
      const inv = perm.slice();
      perm.forEach((p, i) => {
        inv[p] = i;
      });
      return { x: () => tf.transpose(dy as tf.Tensor, inv) };
    },
  },
  {
    kernelName: "BatchMatMul",
    inputsToSave: ["a", "b"],
    gradFunc: (dy, [a, b], attrs) => {
      const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
      const d = dy as tf.Tensor;
      if (!transposeA && !transposeB)
        return { a: () => mm(d, b!, false, true), b: () => mm(a!, d, true, false) };
      if (!transposeA && transposeB)
        return { a: () => mm(d, b!, false, false), b: () => mm(d, a!, true, false) };
      if (transposeA && !transposeB)
        return { a: () => mm(b!, d, false, true), b: () => mm(a!, d, false, false) };
      return { a: () => mm(b!, d, true, true), b: () => mm(d, a!, true, true) };
    },
  },
  {
    // A fused linear's output split into its parts (phi3's qkv_proj and gate_up_proj): the parts' gradients joined.
    kernelName: "SplitV",
    gradFunc: (dy, _saved, attrs) => {
      const parts = dy as tf.Tensor[];
      let axis = (attrs as unknown as { axis: number }).axis;
      if (axis < 0) axis += parts[0]!.rank;
      return { x: () => tf.concat(parts, axis) };
    },
  },
  {
    kernelName: "Concat",
    saveAllInputs: true,
    gradFunc: (dy, saved, attrs) => {
      const rank = saved[0]!.rank;
      let axis = (attrs as unknown as { axis: number }).axis;
      if (axis < 0) axis += rank;
      const parts = tf.split(
        dy as tf.Tensor,
        saved.map((t) => t.shape[axis]!),
        axis,
      );
      return Object.fromEntries(parts.map((p, i) => [i, () => p]));
    },
  },
];

let registered = false;

/** Registers our gradients for kernels that have none yet (idempotent). */
export function registerGradients(): void {
  if (registered) return;
  registered = true;
  for (const c of configs) if (!tf.getGradient(c.kernelName)) tf.registerGradient(freeingConfig(c));
}

registerGradients();
