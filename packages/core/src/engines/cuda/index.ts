// The CUDA engine, registered under `cuda`: available where @sftkit/cuda is built, a driver sees a GPU
// of compute capability >= 8.0 and cuBLASLt opens. Its kernels and GEMMs exist and are tested; the
// training step on the GPU is not wired yet, so `auto` never picks it (CUDA_STEP_READY) and create()
// says so. SFTKIT_ENGINE=cuda or the recipe's `train.engine` ask for it by name.
import type { EngineAsk } from "../engine.ts";
import { registerEngine } from "../registry.ts";
import { cudaAvailability } from "./load.ts";
import { cudaKernels } from "./plan-kernels.ts";

/** Flip when the engine runs a training step: `auto` then prefers it where it is available. */
export const CUDA_STEP_READY = false;

/** What the CUDA engine cannot run, in words (null: it can). */
export function cudaUnsupported(ask: EngineAsk): string | null {
  if (ask.backend !== "auto")
    return `the tfjs backend "${ask.backend}" is requested (cuda runs its own GPU kernels)`;
  if (ask.convertsWeights)
    return `model family "${ask.family}" converts its checkpoint's tensors at load, which the cuda loader does not`;
  return null;
}

registerEngine({
  name: "cuda",
  description:
    "CUDA kernels + cuBLASLt on an NVIDIA GPU (bf16 weights, fp32 trainable state); training step not wired yet",
  availability: () => cudaAvailability(),
  auto: CUDA_STEP_READY,
  unsupported: cudaUnsupported,
  kernels: cudaKernels,
  create: async (plan) => (await import("./engine.ts")).createCudaEngine(plan),
});
