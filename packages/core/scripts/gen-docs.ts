// Regenerates the docs that are derived from code: `pnpm docs:gen`.
import { join } from "node:path";
import { renderDiagnosticsPage } from "../src/recipe/diagnostics-doc.ts";
import { renderFieldDocs } from "../src/recipe/field-docs.ts";
import { renderRecipeJsonSchema } from "../src/recipe/json-schema.ts";
import { renderRecipeReference } from "../src/recipe/reference.ts";
import { writeFileAtomicSync } from "../src/util/atomic-write.ts";

const docs = join(import.meta.dirname, "../../../docs");
for (const [name, text] of [
  ["recipe-reference.md", renderRecipeReference()],
  ["diagnostics.md", renderDiagnosticsPage()],
] as const) {
  const file = join(docs, name);
  writeFileAtomicSync(file, text);
  console.log(`wrote ${file}`);
}

// Exported by the package as @sftkit/core/recipe.schema.json.
const schemaFile = join(import.meta.dirname, "../recipe.schema.json");
writeFileAtomicSync(schemaFile, renderRecipeJsonSchema());
console.log(`wrote ${schemaFile}`);

// The schema's descriptions as TSDoc for editor hovers (see recipe/field-docs.ts).
const fieldDocsFile = join(import.meta.dirname, "../src/recipe/field-docs.generated.ts");
writeFileAtomicSync(fieldDocsFile, renderFieldDocs());
console.log(`wrote ${fieldDocsFile}`);
