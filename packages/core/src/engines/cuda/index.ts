// The CUDA engine, registered under `cuda`: available where @sftkit/cuda is built, a driver sees a GPU
// of compute capability >= 8.0 and cuBLASLt opens; then `auto` prefers it for every plan it can run
// (cudaUnsupported says why not, e.g. DoRA with dropout or a sliding window). $SFTKIT_CUDA_HOST=1 swaps the
// GPU for the host backend (the same step on the CPU, slow: for tests). SFTKIT_ENGINE or the recipe's
// `train.engine` choose by name.
import type { EngineAsk, EngineFeature } from "../engine.ts";
import { registerEngine } from "../registry.ts";
import { cudaMethodGaps } from "./gaps.ts";
import { type CudaAvailability, cudaAvailability, cudaPackage } from "./load.ts";
import { cudaMemoryModel } from "./memory.ts";
import { cudaKernels } from "./plan-kernels.ts";

/** Features the cuda engine implements beyond plain weights and LoRA. */
const cudaFeatures: ReadonlySet<EngineFeature> = new Set<EngineFeature>([
  "neftune",
  "modules-to-save",
  "dora",
]);

/** What the CUDA engine cannot run, in words (null: it can). */
export function cudaUnsupported(ask: EngineAsk): string | null {
  if (ask.backend !== "auto")
    return `the tfjs backend "${ask.backend}" is requested (cuda runs its own GPU kernels)`;
  if (ask.convertsWeights)
    return `model family "${ask.family}" converts its checkpoint's tensors at load, which the cuda loader does not`;
  if (ask.modelNeeds.length > 0)
    return `the ${ask.family} model needs ${ask.modelNeeds.join(", ")}, which the cuda kernels do not implement`;
  const missing = (ask.features ?? []).filter((f) => !cudaFeatures.has(f.feature));
  if (missing.length)
    return `${missing.map((f) => `${f.path} (${f.feature})`).join(", ")} ${missing.length > 1 ? "are" : "is"} not implemented on cuda`;
  const gaps = ask.method ? cudaMethodGaps(ask.method) : [];
  if (gaps.length) return `${gaps.join(", ")} ${gaps.length > 1 ? "are" : "is"} not implemented on cuda`;
  return null;
}

/** The GPU's availability, or with $SFTKIT_CUDA_HOST=1 the host backend's (the host add-on built). */
export function cudaEngineAvailability(env: NodeJS.ProcessEnv = process.env): CudaAvailability {
  if (env.SFTKIT_CUDA_HOST !== "1") return cudaAvailability(env);
  const p = cudaPackage();
  if ("reason" in p) return { available: false, reason: p.reason };
  const h = p.pkg.loadCudaHost();
  if ("reason" in h)
    return { available: false, reason: `@sftkit/cuda host backend unavailable: ${h.reason}` };
  return {
    available: true,
    reason: "@sftkit/cuda host backend ($SFTKIT_CUDA_HOST=1: the GPU step on the CPU, slow)",
  };
}

registerEngine({
  name: "cuda",
  description:
    "CUDA kernels + cuBLASLt on an NVIDIA GPU (bf16 frozen weights, NF4 for QLoRA, fp32 trainable state); full, partial, frozen, LoRA, QLoRA, prefix; LoRA dropout, DoRA (without dropout), modules to save, trainable rows of added tokens, NEFTune",
  availability: () => cudaEngineAvailability(),
  unsupported: cudaUnsupported,
  kernels: cudaKernels,
  memory: cudaMemoryModel,
  create: async (plan) => (await import("./engine.ts")).createCudaEngine(plan),
});
