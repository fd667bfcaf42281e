// Fused element-wise training kernels on the native tier: RMSNorm, SwiGLU, rotate-half RoPE and
// softmax cross-entropy, each one pass over its rows (forward and backward) instead of a chain of
// tfjs ops with an intermediate tensor per step. Registered as the ops' kernels (native/index.ts).
import * as tf from "@tensorflow/tfjs-core";
import { freeing } from "../free.ts";
import { registerHeapKernel, runHeapKernel } from "./heap.ts";
import type { NativeAddon } from "./types.ts";

const RMS_NORM = "SftkitRmsNorm";
const RMS_NORM_GRAD = "SftkitRmsNormGrad";
const SWIGLU = "SftkitSwiglu";
const SWIGLU_GRAD = "SftkitSwigluGrad";
const ROPE = "SftkitRope";
const SOFTMAX_XENT = "SftkitSoftmaxXent";

function dims2(t: tf.TensorInfo): [number, number] {
  const [r, c] = t.shape as [number, number];
  return [r, c];
}

export function registerNativeFused(addon: NativeAddon): void {
  // Outputs are made before any input is viewed: a new output can grow the wasm memory, which
  // detaches every earlier view of it.
  registerHeapKernel(RMS_NORM, (heap, inputs, attrs) => {
    const [rows, dim] = dims2(inputs.x!);
    const y = heap.out([rows, dim]).info;
    const rstd = heap.out([rows]).info;
    addon.rmsNormForward(
      heap.f32(inputs.x!),
      heap.f32(inputs.w!),
      heap.f32(y),
      heap.f32(rstd),
      rows,
      dim,
      attrs.eps as number,
    );
    return [y, rstd];
  });
  registerHeapKernel(RMS_NORM_GRAD, (heap, inputs, attrs) => {
    const [rows, dim] = dims2(inputs.x!);
    const dx = heap.out([rows, dim]).info;
    const dw = attrs.weightGrad ? heap.out([dim]).info : null;
    addon.rmsNormBackward(
      heap.f32(inputs.dy!),
      heap.f32(inputs.x!),
      heap.f32(inputs.w!),
      heap.f32(inputs.rstd!),
      heap.f32(dx),
      dw && heap.f32(dw),
      rows,
      dim,
    );
    return dw ? [dx, dw] : [dx];
  });
  registerHeapKernel(SWIGLU, (heap, inputs) => {
    const y = heap.out([...inputs.g!.shape]).info;
    const n = tf.util.sizeFromShape(inputs.g!.shape);
    addon.swigluForward(heap.f32(inputs.g!), heap.f32(inputs.u!), heap.f32(y), n);
    return y;
  });
  registerHeapKernel(SWIGLU_GRAD, (heap, inputs) => {
    const dg = heap.out([...inputs.g!.shape]).info;
    const du = heap.out([...inputs.g!.shape]).info;
    const n = tf.util.sizeFromShape(inputs.g!.shape);
    addon.swigluBackward(
      heap.f32(inputs.dy!),
      heap.f32(inputs.g!),
      heap.f32(inputs.u!),
      heap.f32(dg),
      heap.f32(du),
      n,
    );
    return [dg, du];
  });
  registerHeapKernel(ROPE, (heap, inputs, attrs) => {
    const { cos, sin, heads, hd, inverse } = attrs as unknown as RopeAttrs;
    const [T] = dims2(inputs.x!);
    const y = heap.out([...inputs.x!.shape]).info;
    addon.rope(heap.f32(inputs.x!), cos, sin, heap.f32(y), T, heads, hd, inverse);
    return y;
  });
  registerHeapKernel(SOFTMAX_XENT, (heap, inputs, attrs) => {
    const { targets, grad, loss } = attrs as unknown as XentAttrs;
    const [rows, V] = dims2(inputs.logits!);
    const g = grad ? heap.out([rows, V]).info : null;
    loss[0] = addon.crossEntropy(heap.f32(inputs.logits!), targets, rows, V, grad, g && heap.f32(g));
    return g ? [g] : [];
  });
}

interface RopeAttrs {
  cos: Float32Array;
  sin: Float32Array;
  heads: number;
  hd: number;
  inverse: boolean;
}

interface XentAttrs {
  targets: Int32Array;
  grad: boolean;
  /** Where the kernel leaves the summed loss (kept in double precision). */
  loss: Float64Array;
}

function expect2d(op: string, t: tf.Tensor, rows: number | null, cols: number | null): void {
  if (t.rank !== 2 || (rows !== null && t.shape[0] !== rows) || (cols !== null && t.shape[1] !== cols))
    throw new Error(`${op}: got shape [${t.shape}], expected [${rows ?? "rows"}, ${cols ?? "cols"}]`);
  if (t.dtype !== "float32") throw new Error(`${op}: expected float32, got ${t.dtype}`);
}

/**
 * x * rsqrt(mean(x^2) + eps) * w over the rows of x [rows, dim]. Saves x and the per-row rstd for
 * the gradient (not y); with weightGrad false, w's gradient is zeros and is not computed.
 */
export function nativeRmsNorm(
  x: tf.Tensor2D,
  w: tf.Tensor1D,
  eps: number,
  withGrad: boolean,
  weightGrad: boolean,
): tf.Tensor2D {
  expect2d("nativeRmsNorm", x, null, w.shape[0]);
  const forward = (xi: tf.Tensor, wi: tf.Tensor) =>
    runHeapKernel<tf.Tensor[]>(RMS_NORM, { x: xi, w: wi }, { eps }) as [tf.Tensor2D, tf.Tensor1D];
  if (!withGrad) {
    const [y, rstd] = forward(x, w);
    rstd.dispose();
    return y;
  }
  const f = tf.customGrad((xi, wi, save) => {
    const [y, rstd] = forward(xi as tf.Tensor, wi as tf.Tensor);
    // A variable outlives the pass: saved only when w is a tensor of the forward pass.
    const keepW = !(wi instanceof tf.Variable);
    (save as tf.GradSaveFunc)(keepW ? [xi as tf.Tensor, rstd, wi as tf.Tensor] : [xi as tf.Tensor, rstd]);
    rstd.dispose(); // the saved copy keeps its data
    return {
      value: y,
      gradFunc: freeing((dy, saved) => {
        const [xs, rs] = saved as [tf.Tensor, tf.Tensor];
        const ws = keepW ? saved[2]! : (wi as tf.Tensor);
        const out = runHeapKernel<tf.Tensor[]>(
          RMS_NORM_GRAD,
          { dy: dy as tf.Tensor, x: xs, w: ws, rstd: rs },
          { weightGrad },
        );
        return weightGrad ? out : [out[0]!, tf.zerosLike(ws)];
      }),
    };
  });
  return f(x, w) as tf.Tensor2D;
}

/** silu(g) * u = g * sigmoid(g) * u, element-wise; saves g and u for the gradient. */
export function nativeSwiglu(g: tf.Tensor2D, u: tf.Tensor2D, withGrad: boolean): tf.Tensor2D {
  expect2d("nativeSwiglu", g, null, null);
  expect2d("nativeSwiglu", u, g.shape[0], g.shape[1]);
  if (!withGrad) return runHeapKernel<tf.Tensor2D>(SWIGLU, { g, u });
  const f = tf.customGrad((gi, ui, save) => {
    (save as tf.GradSaveFunc)([gi as tf.Tensor, ui as tf.Tensor]);
    return {
      value: runHeapKernel<tf.Tensor2D>(SWIGLU, { g: gi as tf.Tensor, u: ui as tf.Tensor }),
      gradFunc: freeing((dy, saved) =>
        runHeapKernel<tf.Tensor[]>(SWIGLU_GRAD, { dy: dy as tf.Tensor, g: saved[0]!, u: saved[1]! }),
      ),
    };
  });
  return f(g, u) as tf.Tensor2D;
}

/**
 * Rotate-half RoPE (HF Llama): x [T, heads * hd] -> x * cos + rotate_half(x) * sin per head, with
 * cos/sin [T * hd] as ropeTables makes them. The gradient is the inverse rotation of dy (nothing
 * saved).
 */
export function nativeRope(
  x: tf.Tensor2D,
  cos: Float32Array,
  sin: Float32Array,
  heads: number,
  hd: number,
  withGrad: boolean,
): tf.Tensor2D {
  expect2d("nativeRope", x, null, heads * hd);
  const T = x.shape[0];
  if (cos.length !== T * hd || sin.length !== T * hd)
    throw new Error(`nativeRope: cos/sin hold ${cos.length}/${sin.length} values, expected T*hd = ${T * hd}`);
  const run = (t: tf.Tensor, inverse: boolean) =>
    runHeapKernel<tf.Tensor2D>(ROPE, { x: t }, { cos, sin, heads, hd, inverse });
  if (!withGrad) return run(x, false);
  const f = tf.customGrad((xi) => ({
    value: run(xi as tf.Tensor, false),
    gradFunc: freeing((dy) => [run(dy as tf.Tensor, true)]),
  }));
  return f(x) as tf.Tensor2D;
}

/**
 * Softmax cross-entropy over logits [rows, V] against targets (one per row, each in [0, V)):
 * loss is the sum over rows of logsumexp(row) - row[target] (accumulated in double); with grad,
 * g = softmax(row) - onehot(target) as a new tensor (logits are left as they were). g is the
 * gradient of the summed loss with respect to the logits.
 */
export function nativeSoftmaxXent(
  logits: tf.Tensor2D,
  targets: Int32Array,
  grad: boolean,
): { loss: number; g: tf.Tensor2D | null } {
  expect2d("nativeSoftmaxXent", logits, targets.length, null);
  const loss = new Float64Array(1);
  const out = runHeapKernel<tf.Tensor[]>(SOFTMAX_XENT, { logits }, { targets, grad, loss });
  return { loss: loss[0]!, g: grad ? (out[0] as tf.Tensor2D) : null };
}
