// Shared by the cuda engine's tests: the host test add-on (the CUDA kernels' arithmetic built for the
// CPU) and @sftkit/native's kernels to compare it with, or why a test skips.
import type { CudaHostAddon } from "@sftkit/cuda";
import { importNative } from "../../model/native/load.ts";
import type { NativeAddon } from "../../model/native/types.ts";
import { cudaPackage } from "./load.ts";

export async function hostAndNative(): Promise<
  { host: CudaHostAddon; native: NativeAddon } | { reason: string }
> {
  const p = cudaPackage();
  if ("reason" in p) return { reason: p.reason };
  const h = p.pkg.loadCudaHost();
  if ("reason" in h) return { reason: `@sftkit/cuda's host test add-on ${h.reason}` };
  const n = await importNative();
  if ("reason" in n) return { reason: `@sftkit/native ${n.reason}` };
  return { host: h.addon as CudaHostAddon, native: n.addon };
}
