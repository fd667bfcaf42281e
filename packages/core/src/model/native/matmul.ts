// BatchMatMul on the wasm backend through the addon's BLAS sgemm, in place on the heap. Small
// products stay on XNNPACK (measured: a [256 x 256] x [256 x 32] product 0.12 ms there, 0.28 ms
// through a threaded OpenBLAS call), unless they come in batches the addon spreads over threads.
import * as tf from "@tensorflow/tfjs-core";
import type { HeapTensor, WasmBackendLike } from "./heap.ts";
import type { NativeAddon } from "./types.ts";

const SMALL_FLOPS = 2 ** 23;

export function registerNativeMatMul(addon: NativeAddon): void {
  const original = tf.getKernel("BatchMatMul", "wasm");
  if (!original) throw new Error("no wasm BatchMatMul kernel to replace");
  // Registering twice (a second backend start) must wrap XNNPACK's kernel, not our own.
  const fallback = (original as { xnnpack?: tf.KernelFunc }).xnnpack ?? original.kernelFunc;
  tf.unregisterKernel("BatchMatMul", "wasm");
  const kernelFunc: tf.KernelFunc = (args) => {
    const a = args.inputs.a as unknown as HeapTensor;
    const b = args.inputs.b as unknown as HeapTensor;
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    const ra = a.shape.length;
    const rb = b.shape.length;
    if (a.dtype !== "float32" || b.dtype !== "float32" || ra !== rb || ra < 2) return fallback(args);
    const batchA = a.shape.slice(0, -2).reduce((x, y) => x * y, 1);
    const batchB = b.shape.slice(0, -2).reduce((x, y) => x * y, 1);
    if (batchA !== batchB && batchB !== 1 && batchA !== 1) return fallback(args);
    const M = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
    const K = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
    const N = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
    const batch = Math.max(batchA, batchB);
    // XNNPACK only takes plain products; transposed ones stay here whatever their size.
    if (batch === 1 && !transposeA && !transposeB && M * N * K < SMALL_FLOPS / 2) return fallback(args);
    const backend = args.backend as unknown as WasmBackendLike;
    const outShape = [...(batchA >= batchB ? a.shape : b.shape).slice(0, -2), M, N];
    const out = backend.makeOutput(outShape, "float32");
    if (M * N === 0) return out as unknown as tf.TensorInfo;
    const f32 = (t: HeapTensor) => backend.typedArrayFromHeap(t) as Float32Array;
    addon.sgemm(
      f32(a),
      f32(b),
      f32(out),
      M,
      N,
      K,
      transposeA,
      transposeB,
      batch,
      batchA === 1 ? 0 : M * K,
      batchB === 1 ? 0 : K * N,
      M * N,
    );
    return out as unknown as tf.TensorInfo;
  };
  tf.registerKernel({ ...original, setupFunc: undefined, kernelFunc, xnnpack: fallback } as tf.KernelConfig);
}
