// Plans for adapter tests over tiny random models (only the fields the methods read).
import type { Plan } from "../compile/plan-schema.ts";
import type { ModelConfig } from "../model/config.ts";
import { MethodSchema } from "./registry.ts";

export interface TestPlanOptions {
  added?: Plan["tokenizer"]["added"];
  total?: number;
  recompute?: boolean;
  seed?: number;
}

export function testPlan(cfg: ModelConfig, method: unknown, o: TestPlanOptions = {}): Plan {
  const added = o.added ?? [];
  const total = o.total ?? Math.max(cfg.vocabSize, ...added.map((t) => (t.id ?? -1) + 1));
  return {
    method: MethodSchema.parse(method),
    model: {
      source: { kind: "architecture", path: null, hub: null, revision: null },
      vocab: { model: cfg.vocabSize, tokenizer: cfg.vocabSize, added: added.length, total },
    },
    tokenizer: { dir: null, bos: null, eos: null, pad: null, added },
    memory: { gradientCheckpointing: o.recompute ?? false },
    seed: o.seed ?? 0,
  } as unknown as Plan;
}

export const newToken = (content: string, id: number, init: "mean" | "noise" | "describe" = "mean") => ({
  content,
  id,
  special: true,
  init,
  description: null,
});
