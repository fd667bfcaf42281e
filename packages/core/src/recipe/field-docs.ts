// The schema's `.describe()` texts as TSDoc, so editors show a field's description on hover. TypeScript keeps
// no comments on types inferred from zod; a type of the same fields, each `unknown` and documented,
// intersected with the recipe's input type, carries them (the fields' types and checks stay zod's).
// Written to recipe/field-docs.generated.ts by `pnpm docs:gen`; a test keeps it in step with the schema.
import { recipeJsonSchema } from "./json-schema.ts";

type JsonSchema = {
  type?: string | string[];
  const?: unknown;
  description?: string;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
};

const isObject = (s: JsonSchema | undefined): s is JsonSchema & { properties: Record<string, JsonSchema> } =>
  s !== undefined && s.type === "object" && s.properties !== undefined;

function comment(text: string | undefined, indent: string): string {
  if (!text) return "";
  const lines = text.replaceAll("*/", "*\\/").split("\n");
  return lines.length === 1
    ? `${indent}/** ${lines[0]} */\n`
    : `${indent}/**\n${lines.map((l) => `${indent} * ${l}`).join("\n")}\n${indent} */\n`;
}

/** The object members of a union field (method by kind, template's `{ jinja }` / `{ file }`). */
const objectMembers = (s: JsonSchema) => (s.oneOf ?? s.anyOf ?? []).filter(isObject);

/** The property every member fixes to a constant (`kind`), if any. */
function discriminant(members: JsonSchema[]): string | undefined {
  const first = members[0];
  if (!first?.properties) return undefined;
  return Object.keys(first.properties).find((key) =>
    members.every((m) => typeof m.properties?.[key]?.const === "string"),
  );
}

const pascal = (path: string[]) =>
  path.map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join("") || "Recipe";

export function renderFieldDocs(): string {
  const out: string[] = [];
  // Only plain objects are described inside their parent: a union (method, template) or a nullable object keeps
  // its members' excess-property checks only when nothing adds keys to it. A union's members get a union of
  // doc types instead, one per member with exactly its keys, which define.ts intersects member by member.
  const emit = (schema: JsonSchema, path: string[], fixed?: string): string => {
    const name = `${pascal(path)}FieldDocs`;
    const fields = Object.entries(schema.properties ?? {}).map(([key, sub]) => {
      let type = "unknown";
      if (key === fixed) type = JSON.stringify(sub.const);
      else if (isObject(sub)) type = emit(sub, [...path, key]);
      else if (
        sub.type === "object" &&
        typeof sub.additionalProperties === "object" &&
        isObject(sub.additionalProperties)
      )
        type = `{ [name: string]: ${emit(sub.additionalProperties, [...path, key, "entry"])} }`;
      else emitUnion(sub, [...path, key]);
      const name = /^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key);
      return `${comment(sub.description, "  ")}  ${name}?: ${type};`;
    });
    // Type literals, not interfaces: they stay assignable to index signatures as the recipe types are.
    out.push(`${comment(schema.description, "")}export type ${name} = {\n${fields.join("\n")}\n};\n`);
    return name;
  };
  const emitUnion = (schema: JsonSchema, path: string[]): void => {
    const members = objectMembers(schema);
    if (members.length === 0) return;
    const key = discriminant(members);
    // Named by the discriminant's value (MethodLoraFieldDocs), else by the member's first field (TemplateFileFieldDocs).
    const names = members.map((m) => {
      const tag = key ? String(m.properties[key]?.const) : Object.keys(m.properties)[0];
      return emit(m, [...path, ...(tag ? tag.split(/[^A-Za-z0-9]+/) : [])], key);
    });
    const head = `export type ${pascal(path)}FieldDocs =`;
    // Laid out as Biome would (line width 110), so the generated file stays formatted.
    const oneLine = `${head} ${names.join(" | ")};`;
    const body = oneLine.length <= 110 ? oneLine : `${head}\n${names.map((n) => `  | ${n}`).join("\n")};`;
    out.push(`${comment(schema.description, "")}${body}\n`);
  };
  emit(recipeJsonSchema() as JsonSchema, []);
  return `// Generated from the recipe schema's descriptions by \`pnpm docs:gen\` (see field-docs.ts). Do not edit.\n\n${out.reverse().join("\n")}`;
}
