// Finds the zod schema that validates a given recipe path, so diagnostics can list valid keys and options.
import type { z } from "zod";
import type { PathSegment } from "./diagnostics.ts";

type AnySchema = z.core.$ZodType;

interface Def {
  type: string;
  innerType?: AnySchema;
  shape?: Record<string, AnySchema>;
  options?: AnySchema[];
  discriminator?: string;
  valueType?: AnySchema;
  element?: AnySchema;
  in?: AnySchema;
  items?: AnySchema[];
}

const defOf = (s: AnySchema): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** Peels optional/default/prefault/nullable/pipe wrappers. */
export function unwrap(schema: AnySchema): AnySchema {
  let s = schema;
  for (;;) {
    const def = defOf(s);
    if (
      def.innerType &&
      ["optional", "default", "prefault", "nullable", "readonly", "catch"].includes(def.type)
    ) {
      s = def.innerType;
    } else if (def.type === "pipe" && def.in) {
      s = def.in;
    } else {
      return s;
    }
  }
}

/** The schema at `path`, choosing discriminated-union members by the value written there. */
export function schemaAt(
  root: AnySchema,
  path: readonly PathSegment[],
  value: unknown,
): AnySchema | undefined {
  let schema: AnySchema | undefined = root;
  let current: unknown = value;
  for (const seg of path) {
    if (!schema) return undefined;
    schema = pickUnionMember(unwrap(schema), current);
    const def = defOf(schema);
    const next =
      typeof current === "object" && current !== null
        ? (current as Record<PathSegment, unknown>)[seg]
        : undefined;
    if (def.type === "object" && def.shape) schema = def.shape[String(seg)];
    else if (def.type === "record") schema = def.valueType;
    else if (def.type === "array") schema = def.element;
    else if (def.type === "tuple") schema = def.items?.[Number(seg)];
    else return undefined;
    current = next;
  }
  return schema ? pickUnionMember(unwrap(schema), current) : undefined;
}

function pickUnionMember(schema: AnySchema, value: unknown): AnySchema {
  const def = defOf(schema);
  if (def.type !== "union" || !def.options) return schema;
  if (def.discriminator && typeof value === "object" && value !== null) {
    const tag = (value as Record<string, unknown>)[def.discriminator];
    for (const option of def.options) {
      const shape = defOf(unwrap(option)).shape;
      const literal = shape?.[def.discriminator];
      if (literal && literalValues(literal).includes(tag)) return unwrap(option);
    }
    return schema;
  }
  // A plain union: the object member when the value is an object.
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    const objects = def.options.map(unwrap).filter((o) => defOf(o).type === "object");
    if (objects.length === 1) return objects[0]!;
  }
  return schema;
}

export function literalValues(schema: AnySchema): unknown[] {
  const def = defOf(unwrap(schema)) as Def & { values?: unknown[]; entries?: Record<string, unknown> };
  if (def.type === "literal") return def.values ?? [];
  if (def.type === "enum") return Object.values(def.entries ?? {});
  return [];
}

/** The keys an object schema accepts (empty when `schema` is not an object). */
export function objectKeys(schema: AnySchema | undefined): string[] {
  if (!schema) return [];
  const def = defOf(unwrap(schema));
  return def.type === "object" && def.shape ? Object.keys(def.shape) : [];
}

/** The discriminator and its allowed values, for a discriminated union. */
export function discriminatorOf(
  schema: AnySchema | undefined,
): { key: string; values: string[] } | undefined {
  if (!schema) return undefined;
  const def = defOf(unwrap(schema));
  if (def.type !== "union" || !def.discriminator || !def.options) return undefined;
  const key = def.discriminator;
  const values = def.options
    .flatMap((o) => literalValues(defOf(unwrap(o)).shape?.[key] as AnySchema))
    .map(String);
  return { key, values };
}
