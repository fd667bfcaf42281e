// Regenerates the docs that are derived from code: `pnpm docs:gen`.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderRecipeReference } from "../src/recipe/reference.ts";

const file = join(import.meta.dirname, "../../../docs/recipe-reference.md");
writeFileSync(file, renderRecipeReference());
console.log(`wrote ${file}`);
