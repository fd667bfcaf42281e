// The native engine, registered under `native`: available where @sftkit/native is built, and then
// `auto`'s choice unless the plan asks for what it cannot do (a tfjs backend, a family that converts
// its checkpoint's tensors at load, a model need beyond what needs.ts lists). SFTKIT_ENGINE or the
// recipe's `train.engine` choose by name.
import { nativeAvailability } from "../../model/native/load.ts";
import type { EngineAsk, EngineFeature } from "../engine.ts";
import { registerEngine } from "../registry.ts";
import { nativeMemoryModel } from "./memory.ts";
import { nativeMissingNeeds } from "./needs.ts";
import { nativeKernels } from "./plan-kernels.ts";

/** Features the native engine implements (tested equal to the tfjs engine's). */
const nativeFeatures: ReadonlySet<EngineFeature> = new Set<EngineFeature>([
  "dora",
  "neftune",
  "modules-to-save",
]);

/** What the native engine cannot run, in words (null: it can). */
export function nativeUnsupported(ask: EngineAsk): string | null {
  if (ask.backend !== "auto")
    return `the tfjs backend "${ask.backend}" is requested (native runs its own CPU kernels)`;
  if (ask.gpu) return "a GPU plan is asked for ($SFTKIT_GPU_MEMORY); native runs on the CPU";
  if (ask.convertsWeights)
    return `model family "${ask.family}" converts its checkpoint's tensors at load, which the native loader does not`;
  const needs = nativeMissingNeeds(ask.modelNeeds);
  if (needs.length > 0)
    return `the ${ask.family} model needs ${needs.join(", ")}, which the native kernels do not implement`;
  const missing = (ask.features ?? []).filter((f) => !nativeFeatures.has(f.feature));
  if (missing.length)
    return `${missing.map((f) => `${f.path} (${f.feature})`).join(", ")} ${missing.length > 1 ? "are" : "is"} not implemented natively`;
  return null;
}

registerEngine({
  name: "native",
  description: "native C++ kernels + BLAS on plain typed arrays (no 4 GiB heap; bf16/f16/NF4 frozen weights)",
  availability: () => {
    const a = nativeAvailability();
    return { available: a.active, reason: `@sftkit/native ${a.reason}` };
  },
  unsupported: nativeUnsupported,
  kernels: nativeKernels,
  memory: nativeMemoryModel,
  create: async (plan) => (await import("./engine.ts")).createNativeEngine(plan),
});
