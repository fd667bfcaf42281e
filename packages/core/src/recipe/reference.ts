// The recipe reference (docs/recipe-reference.md), generated from the zod schemas' JSON Schema and descriptions.
import { z } from "zod";
import { alignTables, escapeCell } from "../util/markdown-table.ts";
import { RecipeSchema } from "./schema/recipe.ts";
import { acknowledgeableErrorIds, warningIds } from "./warnings.ts";

interface Js {
  type?: string;
  const?: unknown;
  enum?: unknown[];
  description?: string;
  default?: unknown;
  properties?: Record<string, Js>;
  required?: string[];
  additionalProperties?: Js | boolean;
  items?: Js;
  prefixItems?: Js[];
  anyOf?: Js[];
  oneOf?: Js[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  minItems?: number;
  pattern?: string;
}

function typeOf(s: Js): string {
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(" | ");
  const alts = s.anyOf ?? s.oneOf;
  if (alts) return alts.map(typeOf).join(" | ");
  if (s.type === "array") {
    if (s.prefixItems) return `[${s.prefixItems.map(typeOf).join(", ")}]`;
    const inner = s.items ? typeOf(s.items) : "unknown";
    return inner.includes(" | ") ? `(${inner})[]` : `${inner}[]`;
  }
  if (s.type === "object") {
    if (s.properties) return `{ ${Object.keys(s.properties).join(", ")} }`;
    if (typeof s.additionalProperties === "object")
      return `Record<string, ${typeOf(s.additionalProperties)}>`;
    return "object";
  }
  if (s.type === "integer" || s.type === "number") {
    const bounds: string[] = [];
    if (s.exclusiveMinimum !== undefined) bounds.push(`> ${s.exclusiveMinimum}`);
    if (s.minimum !== undefined && s.minimum > Number.MIN_SAFE_INTEGER) bounds.push(`≥ ${s.minimum}`);
    if (s.exclusiveMaximum !== undefined) bounds.push(`< ${s.exclusiveMaximum}`);
    if (s.maximum !== undefined && s.maximum < Number.MAX_SAFE_INTEGER) bounds.push(`≤ ${s.maximum}`);
    return `${s.type}${bounds.length ? ` (${bounds.join(", ")})` : ""}`;
  }
  if (s.type) return s.type;
  return "function";
}

function rows(path: string, s: Js, required: boolean, out: string[]): void {
  const def = s.default === undefined ? (required ? "required" : "–") : `\`${JSON.stringify(s.default)}\``;
  out.push(`| \`${path}\` | ${escapeCell(typeOf(s))} | ${def} | ${escapeCell(s.description ?? "")} |`);
  const objects = [s, ...(s.anyOf ?? [])].filter((m) => m.type === "object");
  for (const o of objects) {
    for (const [k, v] of Object.entries(o.properties ?? {}))
      rows(`${path}.${k}`, v, o.required?.includes(k) ?? false, out);
    if (typeof o.additionalProperties === "object") rows(`${path}.<name>`, o.additionalProperties, true, out);
  }
  const items = s.type === "array" ? s.items : undefined;
  if (items?.type === "object") {
    for (const [k, v] of Object.entries(items.properties ?? {}))
      rows(`${path}[].${k}`, v, items.required?.includes(k) ?? false, out);
  }
  for (const alt of s.anyOf ?? []) {
    if (alt.type === "array" && alt.items) {
      const members = [alt.items, ...(alt.items.anyOf ?? [])].filter((m) => m.type === "object");
      for (const m of members) {
        for (const [k, v] of Object.entries(m.properties ?? {}))
          rows(`${path}[].${k}`, v, m.required?.includes(k) ?? false, out);
      }
    }
  }
}

const header = ["| key | type | default | description |", "|---|---|---|---|"];

export function renderRecipeReference(): string {
  const root = z.toJSONSchema(RecipeSchema, { io: "input", unrepresentable: "any" }) as Js;
  const out = [
    "# Recipe reference",
    "",
    "<!-- Generated from the zod schemas in packages/core/src/recipe/schema by `pnpm docs:gen`. Do not edit: a test fails when it is stale. -->",
    "",
    root.description ?? "",
    "",
    "A recipe is the default export of a `recipe.ts`: `export default defineRecipe({ ... })`. Unknown keys are errors.",
    "Paths are relative to the recipe file.",
    "",
  ];
  for (const [key, part] of Object.entries(root.properties ?? {})) {
    out.push(`## \`${key}\``, "");
    if (part.description) out.push(part.description, "");
    if (part.oneOf) {
      for (const variant of part.oneOf) {
        const kind = variant.properties?.kind;
        out.push(`### \`${key}.kind: ${JSON.stringify(kind?.const)}\``, "");
        if (kind?.description) out.push(kind.description, "");
        const body: string[] = [];
        for (const [k, v] of Object.entries(variant.properties ?? {})) {
          if (k !== "kind") rows(`${key}.${k}`, v, variant.required?.includes(k) ?? false, body);
        }
        out.push(...(body.length ? [...header, ...body] : ["No other fields."]), "");
      }
      continue;
    }
    const body: string[] = [];
    rows(key, part, root.required?.includes(key) ?? false, body);
    out.push(...header, ...body, "");
  }
  out.push(
    "## Warning ids",
    "",
    "Warnings a recipe can acknowledge (`acknowledge: [...]`):",
    "",
    "| id | meaning |",
    "|---|---|",
  );
  for (const [id, text] of Object.entries(warningIds)) out.push(`| \`${id}\` | ${escapeCell(text)} |`);
  out.push(
    "",
    "Errors a recipe can acknowledge (listed, they become acknowledged warnings):",
    "",
    "| id | meaning |",
    "|---|---|",
  );
  for (const [id, text] of Object.entries(acknowledgeableErrorIds))
    out.push(`| \`${id}\` | ${escapeCell(text)} |`);
  out.push("");
  return alignTables(out.join("\n"));
}
