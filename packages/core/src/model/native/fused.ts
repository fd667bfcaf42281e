// Fused element-wise kernels on the native tier (filled in by the fused kernels' change).
import type { NativeAddon } from "./types.ts";

export function registerNativeFused(_addon: NativeAddon): void {}
