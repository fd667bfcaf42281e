// The CUDA engine's factory. The kernels (RMSNorm, RoPE, SwiGLU, attention, cross-entropy, AdamW,
// NF4, embedding, bf16 conversion) and the cuBLASLt GEMM run and are checked by @sftkit/cuda's self
// test, but nothing yet holds a model on the GPU or runs a step: refuse clearly rather than pretend.
import type { Plan } from "../../compile/plan-schema.ts";
import type { Engine } from "../engine.ts";
import { type CudaAvailability, cudaAvailability } from "./load.ts";

export const CUDA_ENGINE_INCOMPLETE =
  "the cuda engine cannot train yet: its kernels and cuBLASLt GEMMs are built and tested, but the model's " +
  "forward/backward, weight loading and memory arena on the GPU are not written (see docs/gpu.md); " +
  "use SFTKIT_ENGINE=native or tfjs";

export function createCudaEngine(
  _plan: Plan,
  availability: () => CudaAvailability = () => cudaAvailability(),
): Engine {
  const a = availability();
  if (!a.available) throw new Error(`cuda engine unavailable: ${a.reason}`);
  throw new Error(CUDA_ENGINE_INCOMPLETE);
}
