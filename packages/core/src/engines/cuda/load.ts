// The optional @sftkit/cuda package, loaded synchronously (availability checks are synchronous): its
// add-ons, build status and the availability probe (driver, compute capability, cuBLASLt).
import { createRequire } from "node:module";

export interface CudaAvailability {
  available: boolean;
  reason: string;
}

/** The parts of @sftkit/cuda the core uses (its index.d.ts has them all). */
export interface CudaPackage {
  cudaAvailability(env?: NodeJS.ProcessEnv): CudaAvailability;
  buildStatus(): { ok: boolean; reason?: string; archs?: string[]; seconds: number } | null;
  loadCuda(): { addon: unknown } | { reason: string };
  loadCudaHost(): { addon: unknown } | { reason: string };
}

/** @sftkit/cuda, or why it cannot be imported (an optional dependency). */
export function cudaPackage(): { pkg: CudaPackage } | { reason: string } {
  try {
    // A computed name: the package is optional and may be absent.
    const name = "@sftkit/cuda";
    return { pkg: createRequire(import.meta.url)(name) as CudaPackage };
  } catch (e) {
    const missing = (e as { code?: string }).code === "MODULE_NOT_FOUND";
    return {
      reason: missing
        ? "@sftkit/cuda is not installed (an optional dependency)"
        : `@sftkit/cuda failed to load: ${(e as Error).message}`,
    };
  }
}

/** Whether the CUDA kernels can run here, and why (not), prefixed with the package's name. */
export function cudaAvailability(env: NodeJS.ProcessEnv = process.env): CudaAvailability {
  const p = cudaPackage();
  if ("reason" in p) return { available: false, reason: p.reason };
  const a = p.pkg.cudaAvailability(env);
  return { available: a.available, reason: `@sftkit/cuda ${a.available ? "" : "unavailable: "}${a.reason}` };
}
