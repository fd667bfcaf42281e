// The native tier's kernels, registered for the wasm backend when @sftkit/native loads: tfjs
// kernels over the heap first, then the ops' kernels (model/ops/registry.ts) that call them.
import * as tf from "@tensorflow/tfjs-core";
import { registerKernels } from "../ops/registry.ts";
import { nativeAttention, registerNativeAttention } from "./attention.ts";
import { nativeRmsNorm, nativeRope, nativeSoftmaxXent, nativeSwiglu, registerNativeFused } from "./fused.ts";
import { NATIVE_TIER } from "./kernels.ts";
import { registerNativeMatMul } from "./matmul.ts";
import { nativeAdamW, registerNativeOptim } from "./optim.ts";
import { nativeDequantNF4, registerNativeQuant } from "./quant.ts";
import type { NativeAddon } from "./types.ts";

export { activateNative, nativeAddon, nativeStatus, withoutNative } from "./load.ts";

export function registerNativeKernels(addon: NativeAddon): void {
  registerNativeMatMul(addon);
  registerNativeAttention(addon);
  registerNativeFused(addon);
  registerNativeOptim(addon);
  registerNativeQuant(addon);
  registerKernels(NATIVE_TIER, {
    // BLAS reads a transposed operand as it lies: no copy.
    matmul: {
      bt: (a, b) => tf.matMul(a, b, false, true),
      at: (a, b) => tf.matMul(a, b, true, false),
    },
    rmsnorm: nativeRmsNorm,
    rope: nativeRope,
    attention: nativeAttention,
    swiglu: nativeSwiglu,
    cross_entropy: nativeSoftmaxXent,
    adamw: nativeAdamW,
    nf4_dequant: nativeDequantNF4,
  });
}
