// Fused causal attention on the native tier (filled in by the attention kernels' change).
import type { NativeAddon } from "./types.ts";

export function registerNativeAttention(_addon: NativeAddon): void {}
