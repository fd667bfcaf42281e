// Which base tensors the plan's method keeps as NF4 (QLoRA's frozen linears), so the loader quantizes
// them as it reads them rather than after holding the whole model in the checkpoint's dtype.
import type { Plan } from "../../compile/plan-schema.ts";
import { methodDefinition } from "../../methods/registry.ts";
import type { NF4Options } from "../../model/adapters/nf4.ts";
import { linearModules, type ModelConfig } from "../../model/config.ts";

export function quantizedBaseTensors(plan: Plan, cfg: ModelConfig): Map<string, NF4Options> {
  const nf4 = methodDefinition(plan.method).pieces(plan.method).nf4;
  const out = new Map<string, NF4Options>();
  if (!nf4) return out;
  for (let l = 0; l < cfg.numLayers; l++)
    for (const m of linearModules(cfg)) out.set(`model.layers.${l}.${m.path}.weight`, nf4);
  return out;
}
