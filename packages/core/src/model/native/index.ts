// The native tier's kernels, registered for the wasm backend when @sftkit/native loads.
import { registerNativeAttention } from "./attention.ts";
import { registerNativeFused } from "./fused.ts";
import { registerNativeMatMul } from "./matmul.ts";
import { registerNativeOptim } from "./optim.ts";
import { registerNativeQuant } from "./quant.ts";
import type { NativeAddon } from "./types.ts";

export { activateNative, nativeAddon, nativeStatus, withoutNative } from "./load.ts";

export function registerNativeKernels(addon: NativeAddon): void {
  registerNativeMatMul(addon);
  registerNativeAttention(addon);
  registerNativeFused(addon);
  registerNativeOptim(addon);
  registerNativeQuant(addon);
}
