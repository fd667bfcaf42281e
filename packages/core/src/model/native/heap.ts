// Custom wasm kernels over the native addon: inputs are read and outputs written in place on the
// wasm heap (no copies), registered through tfjs's kernel registry.
import * as tf from "@tensorflow/tfjs-core";

export interface HeapTensor {
  dataId: object;
  shape: number[];
  dtype: tf.DataType;
}

export interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): HeapTensor;
  typedArrayFromHeap(t: HeapTensor): Float32Array | Int32Array;
}

export interface Heap {
  /** A float32 tensor's data as a view of the heap. */
  f32(t: tf.TensorInfo): Float32Array;
  /** A new float32 output tensor and its view. */
  out(shape: number[]): { info: tf.TensorInfo; data: Float32Array };
}

function heapOf(backend: unknown): Heap {
  const b = backend as WasmBackendLike;
  return {
    f32: (t) => {
      if (t.dtype !== "float32") throw new Error(`native kernel: expected float32, got ${t.dtype}`);
      return b.typedArrayFromHeap(t as unknown as HeapTensor) as Float32Array;
    },
    out: (shape) => {
      const info = b.makeOutput(shape, "float32");
      return { info: info as unknown as tf.TensorInfo, data: b.typedArrayFromHeap(info) as Float32Array };
    },
  };
}

/** Registers (or replaces) a wasm kernel whose body works on heap views. */
export function registerHeapKernel(
  name: string,
  body: (
    heap: Heap,
    inputs: tf.NamedTensorInfoMap,
    attrs: tf.NamedAttrMap,
  ) => tf.TensorInfo | tf.TensorInfo[],
): void {
  if (tf.getKernel(name, "wasm")) tf.unregisterKernel(name, "wasm");
  tf.registerKernel({
    kernelName: name,
    backendName: "wasm",
    kernelFunc: ({ inputs, attrs, backend }) => body(heapOf(backend), inputs, attrs ?? {}),
  });
}

/** Runs a registered heap kernel (no gradient recorded: wrap it in tf.customGrad). */
export function runHeapKernel<T extends tf.Tensor | tf.Tensor[]>(
  name: string,
  inputs: Record<string, tf.Tensor>,
  attrs: Record<string, unknown> = {},
): T {
  return tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as T;
}
