// The method registry: one definition per kind (full.ts ... prefix.ts). The recipe's and the plan's method
// schemas, the parameter plan, the memory model, the runtime, the artefacts and the exports read them here.
import { z } from "zod";
import type { MethodDefinition } from "./definition.ts";
import { type FrozenMethod, frozen, frozenSchema } from "./frozen.ts";
import { type FullMethod, full, fullSchema } from "./full.ts";
import { type LoraMethod, lora, loraSchema } from "./lora.ts";
import { type PartialMethod, partial, partialSchema } from "./partial.ts";
import { type PrefixMethod, prefix, prefixSchema } from "./prefix.ts";
import { type QloraMethod, qlora, qloraSchema } from "./qlora.ts";

export type { MethodDefinition } from "./definition.ts";
export { type LinearModuleName, linearModuleNames } from "./lora.ts";
export { Nf4Schema } from "./qlora.ts";

/** A method with every default applied (as parsed from a recipe, and as the plan stores it). */
export type Method = FullMethod | PartialMethod | FrozenMethod | LoraMethod | QloraMethod | PrefixMethod;
export type MethodKind = Method["kind"];
export type { FrozenMethod, FullMethod, LoraMethod, PartialMethod, PrefixMethod, QloraMethod };

export const methodDefinitions = [full, partial, frozen, lora, qlora, prefix] as const;

export const methodKinds = methodDefinitions.map((d) => d.kind) as readonly MethodKind[];

// One schema per definition, in the registry's order (the union below lists them by name to keep its type).
for (const [i, s] of [
  fullSchema,
  partialSchema,
  frozenSchema,
  loraSchema,
  qloraSchema,
  prefixSchema,
].entries())
  if (methodDefinitions[i]?.schema !== s) throw new Error("method registry: schemas out of order");

export const MethodSchema = z
  .discriminatedUnion("kind", [
    fullSchema,
    partialSchema,
    frozenSchema,
    loraSchema,
    qloraSchema,
    prefixSchema,
  ])
  .describe("How the model is tuned, chosen by `kind`.");

/** Which method kinds accept each key: used to hint where a misplaced key belongs. */
export const methodKeysByKind = Object.fromEntries(
  [fullSchema, partialSchema, frozenSchema, loraSchema, qloraSchema, prefixSchema].map((s) => [
    s.shape.kind.value,
    Object.keys(s.shape),
  ]),
) as unknown as Record<MethodKind, readonly string[]>;

const byKind = new Map<string, MethodDefinition<Method>>(
  methodDefinitions.map((d) => [d.kind, d as unknown as MethodDefinition<Method>]),
);

/** The definition of a kind, or undefined when no method has that kind (e.g. a recipe's typo). */
export function findMethodDefinition(kind: string): MethodDefinition<Method> | undefined {
  return byKind.get(kind);
}

/** The definition of a method's kind (its functions take the method itself). */
export function methodDefinition(m: Pick<Method, "kind">): MethodDefinition<Method> {
  const d = byKind.get(m.kind);
  if (!d) throw new Error(`unknown method kind "${m.kind}" (known: ${methodKinds.join(", ")})`);
  return d;
}
