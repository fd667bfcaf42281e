// NF4 dequantization on the native tier, straight into a heap tensor in the stored [out, in] order
// (QLoRA's frozen base: BLAS then reads it transposed in place).
import type * as tf from "@tensorflow/tfjs-core";
import { registerHeapKernel, runHeapKernel } from "./heap.ts";
import type { NativeAddon } from "./types.ts";

const NF4_DEQUANT = "SftkitNF4Dequant";

interface Nf4Attrs {
  codes: Uint8Array;
  absmax: Float32Array;
  table: Float32Array;
  blockSize: number;
  shape: number[];
}

export function registerNativeQuant(addon: NativeAddon): void {
  registerHeapKernel(NF4_DEQUANT, (heap, _inputs, attrs) => {
    const a = attrs as unknown as Nf4Attrs;
    const out = heap.out(a.shape);
    addon.nf4Dequantize(a.codes, a.absmax, a.table, out.data, a.blockSize);
    return out.info;
  });
}

/** The float32 [rows, cols] tensor of NF4 codes (two per byte) scaled per block by absmax. */
export function nativeDequantNF4(
  codes: Uint8Array,
  absmax: Float32Array,
  table: Float32Array,
  blockSize: number,
  shape: [number, number],
): tf.Tensor2D {
  return runHeapKernel<tf.Tensor2D>(NF4_DEQUANT, {}, { codes, absmax, table, blockSize, shape });
}
