// Prototype (bench only): registers BatchMatMul for the wasm backend as OpenBLAS sgemm reading and
// writing the wasm heap in place, through bench/native/build/blas.node (bench/native/build.sh).
// Returns why it is not active when it cannot be.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { tf } from "../../packages/core/src/model/tf.ts";

interface Blas {
  sgemm(
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    M: number,
    N: number,
    K: number,
    ta: boolean,
    tb: boolean,
    batch: number,
    sa: number,
    sb: number,
    sc: number,
  ): void;
  threads(n?: number): number;
}

interface HeapTensor {
  dataId: object;
  shape: number[];
  dtype: tf.DataType;
}

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): HeapTensor;
  typedArrayFromHeap(t: HeapTensor): Float32Array;
}

const SMALL = Number(process.env.SFTKIT_BLAS_MIN_FLOPS ?? 2 ** 23);

export function registerNativeMatMul(threads: number): string | null {
  const file = join(import.meta.dirname, "build", "blas.node");
  if (!existsSync(file)) return `not built (${file}); run bench/native/build.sh`;
  let blas: Blas;
  try {
    blas = createRequire(import.meta.url)(file) as Blas;
  } catch (e) {
    return `failed to load: ${e instanceof Error ? e.message : String(e)}`;
  }
  blas.threads(threads);
  const original = tf.getKernel("BatchMatMul", "wasm");
  if (!original) return "no wasm BatchMatMul kernel to replace (is the wasm backend active?)";
  const fallback = original.kernelFunc;
  tf.unregisterKernel("BatchMatMul", "wasm");
  tf.registerKernel({
    ...original,
    setupFunc: undefined,
    kernelFunc: (args) => {
      const a = args.inputs.a as HeapTensor;
      const b = args.inputs.b as HeapTensor;
      const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
      const ra = a.shape.length;
      const rb = b.shape.length;
      if (a.dtype !== "float32" || b.dtype !== "float32" || ra !== rb || ra < 2) return fallback(args);
      const batchA = a.shape.slice(0, -2).reduce((x, y) => x * y, 1);
      const batchB = b.shape.slice(0, -2).reduce((x, y) => x * y, 1);
      if (batchA !== batchB && batchB !== 1) return fallback(args);
      const M = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
      const K = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
      const N = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
      // Small products: XNNPACK's single call beats OpenBLAS's threading overhead (measured: a
      // [256 x 256] x [256 x 32] block 0.12 ms on wasm, 0.28 ms through OpenBLAS on 2 threads).
      if (batchA * M * N * K < SMALL) return fallback(args);
      const backend = args.backend as unknown as WasmBackendLike;
      const out = backend.makeOutput([...a.shape.slice(0, -2), M, N], "float32");
      blas.sgemm(
        backend.typedArrayFromHeap(a),
        backend.typedArrayFromHeap(b),
        backend.typedArrayFromHeap(out),
        M,
        N,
        K,
        transposeA,
        transposeB,
        batchA,
        M * K,
        batchB === 1 ? 0 : K * N,
        M * N,
      );
      return out as unknown as tf.TensorInfo;
    },
  });
  return null;
}
