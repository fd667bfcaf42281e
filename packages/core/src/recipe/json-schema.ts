// The recipe as a JSON Schema (draft 2020-12), for editors and tools that do not read TypeScript. Written to
// packages/core/recipe.schema.json by `pnpm docs:gen`; the package exports it as `@sftkit/core/recipe.schema.json`.
import { z } from "zod";
import { RecipeSchema } from "./schema/recipe.ts";

export function recipeJsonSchema(): Record<string, unknown> {
  // What a user writes (defaults optional); refinements and transforms have no JSON form and are left out.
  return z.toJSONSchema(RecipeSchema, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
}

export function renderRecipeJsonSchema(): string {
  return `${JSON.stringify(recipeJsonSchema(), null, 2)}\n`;
}
