// The tfjs engine's kernels as the plan shows them: the ops' tiers registered for its backend (the
// native tier on wasm when it loads), RoPE as formulated under partial rotary.
import type { Plan } from "../../compile/plan-schema.ts";
import { describeKernels } from "../../model/kernels.ts";
import { ROPE } from "../../model/ops/rope.ts";
import { rotaryDim } from "../../model/rope.ts";
import type { EngineKernelsInput } from "../engine.ts";

export function tfjsKernels({ cfg, backend, native }: EngineKernelsInput): Plan["kernels"] {
  const kernels = describeKernels(backend, native);
  // The rope kernels turn whole heads: partial rotary runs RoPE as formulated, whatever is registered.
  const rot = rotaryDim(cfg);
  if (rot === cfg.headDim) return kernels;
  const formulation = `partial rotary (the first ${rot} of ${cfg.headDim} dimensions per head): ${ROPE.reference.plan(backend)}`;
  return kernels.map((k) => (k.op === "rope" ? { op: "rope", formulation } : k));
}
