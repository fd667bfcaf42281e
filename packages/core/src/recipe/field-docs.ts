// The schema's `.describe()` texts as TSDoc, so editors show a field's description on hover. TypeScript keeps
// no comments on types inferred from zod; a type of the same fields, each `unknown` and documented,
// intersected with the recipe's input type, carries them (the fields' types and checks stay zod's).
// Written to recipe/field-docs.generated.ts by `pnpm docs:gen`; a test keeps it in step with the schema.
import { recipeJsonSchema } from "./json-schema.ts";

type JsonSchema = {
  type?: string | string[];
  description?: string;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
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

const pascal = (path: string[]) =>
  path.map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join("") || "Recipe";

export function renderFieldDocs(): string {
  const out: string[] = [];
  // Only plain objects are described inside: a union (method, template) or a nullable object keeps its
  // members' excess-property checks only when nothing adds keys to it.
  const emit = (schema: JsonSchema, path: string[]): string => {
    const name = `${pascal(path)}FieldDocs`;
    const fields = Object.entries(schema.properties ?? {}).map(([key, sub]) => {
      let type = "unknown";
      if (isObject(sub)) type = emit(sub, [...path, key]);
      else if (
        sub.type === "object" &&
        typeof sub.additionalProperties === "object" &&
        isObject(sub.additionalProperties)
      )
        type = `{ [name: string]: ${emit(sub.additionalProperties, [...path, key, "entry"])} }`;
      const name = /^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key);
      return `${comment(sub.description, "  ")}  ${name}?: ${type};`;
    });
    // Type literals, not interfaces: they stay assignable to index signatures as the recipe types are.
    out.push(`${comment(schema.description, "")}export type ${name} = {\n${fields.join("\n")}\n};\n`);
    return name;
  };
  emit(recipeJsonSchema() as JsonSchema, []);
  return `// Generated from the recipe schema's descriptions by \`pnpm docs:gen\` (see field-docs.ts). Do not edit.\n\n${out.reverse().join("\n")}`;
}
