// The native engine, registered under `native`: available where @sftkit/native is built. Not chosen by
// `auto` yet (opt in with SFTKIT_ENGINE=native or the recipe's `train.engine: "native"`).
import { nativeAvailability } from "../../model/native/load.ts";
import { registerEngine } from "../registry.ts";

registerEngine({
  name: "native",
  description: "native C++ kernels + BLAS on plain typed arrays (no 4 GiB heap; bf16/f16/NF4 frozen weights)",
  availability: () => {
    const a = nativeAvailability();
    return {
      available: a.active,
      reason: a.active ? `@sftkit/native ${a.reason}` : `@sftkit/native ${a.reason}`,
    };
  },
  auto: false,
  create: async (plan) => (await import("./engine.ts")).createNativeEngine(plan),
});
