// The plan's method with the recipe schema's types and defaults (the plan stores it as plain JSON).
import type * as tf from "@tensorflow/tfjs-core";
import type { Plan } from "../../compile/plan-schema.ts";
import { MethodSchema } from "../../recipe/schema/method.ts";
import type { Recipe } from "../../recipe/schema/recipe.ts";
import type { AdapterHooks } from "../llama.ts";

export type Method = Recipe["method"];
export type LoraMethod = Extract<Method, { kind: "lora" | "qlora" }>;
export type PrefixMethod = Extract<Method, { kind: "prefix" }>;

export function methodOf(plan: Plan): Method {
  const r = MethodSchema.safeParse(plan.method);
  if (!r.success) throw new Error(`plan.method is not a valid method: ${r.error.issues[0]?.message ?? "?"}`);
  return r.data;
}

/** One building block of a method: its trainable variables and the hooks it adds to a forward pass. */
export interface Piece {
  readonly trainable: readonly [string, tf.Variable][];
  hooks(training: boolean, seed: number): AdapterHooks;
  dispose(): void;
}

/** Combines the hooks of several pieces (each hook comes from at most one piece). */
export function combineHooks(parts: AdapterHooks[]): AdapterHooks {
  const out: AdapterHooks = {};
  for (const h of parts) {
    for (const [k, v] of Object.entries(h)) {
      if (v === undefined) continue;
      if (k in out) throw new Error(`two method pieces both set the "${k}" hook`);
      (out as Record<string, unknown>)[k] = v;
    }
  }
  return out;
}
