// Kernels we register for the wasm backend through tfjs's kernel registry (replacing the built-in
// ones for the shapes they handle and delegating the rest to them).
//
// Transpose: the built-in wasm kernel took ~500-800 ms for a [49152 x 576] table (the tied SmolLM2
// head), more than the lm_head matmul itself; this one ~35-60 ms.
// Every transpose our model makes swaps the last two axes (weights and activations for plain 2-D
// matmuls, attention's k^T): done here as a cache-blocked copy straight between the input's and the
// output's places on the wasm heap, no copy in or out of JS.
import * as tf from "@tensorflow/tfjs-core";
import { type KernelTier, registerKernels } from "./ops/registry.ts";

interface HeapTensor {
  dataId: object;
  shape: number[];
  dtype: tf.DataType;
}

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): HeapTensor;
  typedArrayFromHeap(t: HeapTensor): Float32Array | Int32Array | Uint8Array;
}

// Tiles of 16 x 16, walking the output in order within a tile (strided reads, sequential writes):
// for the [49152 x 576] table 34 ms, against 530 ms for 64 x 64 tiles with strided writes (TLB).
const BLOCK = 16;

/** Our wasm kernels as the plan shows them (tfjs-level kernels: the ops call tf.transpose as is). */
export const WASM_TIER = {
  tier: "wasm-kernels",
  backend: "wasm",
  kernels: {
    transpose: {
      name: "Transpose",
      formulation:
        "registered wasm Transpose kernel: swaps of the last two axes as 16x16-tiled copies between places on the wasm heap (5-15x tfjs's); other permutations use tfjs's",
    },
  },
} as const satisfies KernelTier;

/** dst[b][j][i] = src[b][i][j] for `batches` [rows x cols] matrices, in BLOCK x BLOCK tiles. */
export function transposeLastTwo(
  src: Float32Array | Int32Array | Uint8Array,
  dst: Float32Array | Int32Array | Uint8Array,
  batches: number,
  rows: number,
  cols: number,
): void {
  const size = rows * cols;
  for (let b = 0; b < batches; b++) {
    const base = b * size;
    for (let j0 = 0; j0 < cols; j0 += BLOCK) {
      const j1 = Math.min(cols, j0 + BLOCK);
      for (let i0 = 0; i0 < rows; i0 += BLOCK) {
        const i1 = Math.min(rows, i0 + BLOCK);
        for (let j = j0; j < j1; j++) {
          const d = base + j * rows;
          let s = base + i0 * cols + j;
          for (let i = i0; i < i1; i++, s += cols) dst[d + i] = src[s]!;
        }
      }
    }
  }
}

/** Shape and perm with size-1 axes removed (they never move data). */
function squeezeAxes(shape: readonly number[], perm: readonly number[]): { shape: number[]; perm: number[] } {
  const keep = shape.map((s) => s !== 1);
  const newIndex: number[] = [];
  let k = 0;
  for (let i = 0; i < shape.length; i++) newIndex.push(keep[i] ? k++ : -1);
  return {
    shape: shape.filter((_, i) => keep[i]),
    perm: perm.filter((p) => keep[p]).map((p) => newIndex[p]!),
  };
}

/** [batches, rows, cols] when the transpose swaps the last two (non-trivial) axes, else null. */
export function lastTwoSwap(
  shape: readonly number[],
  perm: readonly number[],
): [number, number, number] | null {
  const r = squeezeAxes(shape, perm);
  const n = r.perm.length;
  if (n < 2) return null;
  for (let i = 0; i < n - 2; i++) if (r.perm[i] !== i) return null;
  if (r.perm[n - 2] !== n - 1 || r.perm[n - 1] !== n - 2) return null;
  const batches = r.shape.slice(0, n - 2).reduce((a, b) => a * b, 1);
  return [batches, r.shape[n - 2]!, r.shape[n - 1]!];
}

let registered = false;

/** Registers our wasm kernels (idempotent; call once the wasm backend is initialised). */
export function registerWasmKernels(): boolean {
  if (registered) return true;
  const original = tf.getKernel("Transpose", "wasm");
  if (!original) return false;
  registered = true;
  registerKernels(WASM_TIER, {});
  const fallback = original.kernelFunc;
  tf.unregisterKernel("Transpose", "wasm");
  tf.registerKernel({
    ...original,
    setupFunc: undefined,
    kernelFunc: (args) => {
      const x = args.inputs.x as HeapTensor;
      const perm = (args.attrs as { perm: number[] }).perm;
      const swap = lastTwoSwap(x.shape, perm);
      if (!swap || x.dtype === "string" || x.dtype === "complex64") return fallback(args);
      const backend = args.backend as unknown as WasmBackendLike;
      const outShape = perm.map((p) => x.shape[p]!);
      const out = backend.makeOutput(outShape, x.dtype);
      // Views after makeOutput: an allocation may grow (and replace) the heap's buffer.
      transposeLastTwo(backend.typedArrayFromHeap(x), backend.typedArrayFromHeap(out), ...swap);
      return out as unknown as tf.TensorInfo;
    },
  });
  registerSharingIdentity();
  registerRowGather();
  return true;
}

/**
 * GatherV2 of whole rows (axis 0, no batch dims) as one block copy per row on the heap: tfjs-wasm's
 * element-wise kernel took ~8 ms for 1,536 rows of 256 floats (the loss's trained rows).
 */
function registerRowGather(): void {
  const original = tf.getKernel("GatherV2", "wasm");
  if (!original) return;
  const general = original.kernelFunc;
  tf.unregisterKernel("GatherV2", "wasm");
  tf.registerKernel({
    ...original,
    setupFunc: undefined,
    kernelFunc: (args) => {
      const x = args.inputs.x as HeapTensor;
      const indices = args.inputs.indices as HeapTensor;
      const { axis, batchDims } = args.attrs as { axis: number; batchDims: number };
      if (
        axis !== 0 ||
        batchDims ||
        (x.dtype !== "float32" && x.dtype !== "int32") ||
        indices.dtype !== "int32"
      )
        return general(args);
      const backend = args.backend as unknown as WasmBackendLike;
      const rows = x.shape[0]!;
      const width = x.shape.slice(1).reduce((a, b) => a * b, 1);
      const out = backend.makeOutput([...indices.shape, ...x.shape.slice(1)], x.dtype);
      // Views after makeOutput: an allocation may grow (and replace) the heap's buffer.
      const src = backend.typedArrayFromHeap(x);
      const dst = backend.typedArrayFromHeap(out);
      const idx = backend.typedArrayFromHeap(indices) as unknown as Int32Array;
      for (let i = 0; i < idx.length; i++) {
        const r = idx[i]!;
        if (r < 0 || r >= rows) {
          (args.backend as unknown as { disposeData(id: object): void }).disposeData(out.dataId);
          throw new Error(`GatherV2: the index value ${r} is not in [0, ${rows - 1}]`);
        }
        dst.set(src.subarray(r * width, (r + 1) * width), i * width);
      }
      return out as unknown as tf.TensorInfo;
    },
  });
}

/**
 * Identity (tf.clone, and every tensor a custom gradient saves) as a second reference to the same
 * heap bytes, as the cpu backend does, instead of tfjs-wasm's copy: tensors are immutable, so the
 * copy bought nothing (measured: 187 copies, ~19 ms and their memory per reference step).
 */
function registerSharingIdentity(): void {
  const original = tf.getKernel("Identity", "wasm");
  if (!original) return;
  const copy = original.kernelFunc;
  tf.unregisterKernel("Identity", "wasm");
  tf.registerKernel({
    ...original,
    setupFunc: undefined,
    kernelFunc: (args) => {
      const x = args.inputs.x as HeapTensor;
      if (x.dtype === "string") return copy(args);
      (args.backend as unknown as { incRef(dataId: object): void }).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype } as unknown as tf.TensorInfo;
    },
  });
}
