// The tfjs engine, registered under `tfjs`: always available (its `cpu` backend needs nothing).
import { registerEngine } from "../registry.ts";
import { tfjsKernels } from "./plan-kernels.ts";

registerEngine({
  name: "tfjs",
  description: "TensorFlow.js: wasm (SIMD, threads, optional native kernels), tensorflow, cpu",
  availability: () => ({
    available: true,
    reason: "ships with @sftkit/core (its cpu backend needs nothing)",
  }),
  kernels: tfjsKernels,
  // Imported when used: a plan is made without loading TensorFlow.js.
  create: async (plan) => (await import("./engine.ts")).createTfjsEngine(plan),
});
