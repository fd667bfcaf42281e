// A new engine of the plan's choice (its `engine.chosen`; plans older than the engine section ran tfjs).
import type { Plan } from "../compile/plan-schema.ts";
import type { Engine } from "./engine.ts";
import { engineDefinition } from "./registry.ts";
import "./tfjs/index.ts";
import "./native/index.ts";

export async function createEngine(plan: Plan): Promise<Engine> {
  const name = plan.engine?.chosen ?? "tfjs";
  const def = engineDefinition(name);
  if (!def) throw new Error(`the plan runs engine "${name}", which is not registered in this process`);
  const a = def.availability();
  if (!a.available) throw new Error(`the plan runs engine "${name}", which is unavailable here: ${a.reason}`);
  return def.create(plan);
}
