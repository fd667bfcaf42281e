import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { recipeJsonSchema } from "./json-schema.ts";

type Node = { description?: string; properties?: Record<string, Node>; required?: string[] };

describe("the recipe's JSON Schema", () => {
  it("carries the schema's field descriptions and required fields", () => {
    const schema = recipeJsonSchema() as Node;
    expect(schema.required).toEqual(expect.arrayContaining(["model", "data", "method"]));
    expect(schema.properties?.model?.properties?.path?.description).toMatch(/relative to the recipe file/);
    expect(schema.properties?.name?.description).toBe("The run's name (default: the recipe file's name).");
  });

  it("is exported as packages/core/recipe.schema.json, up to date (`pnpm docs:gen` writes it)", () => {
    const file = join(import.meta.dirname, "../../recipe.schema.json");
    // Compared parsed: Biome may reflow the written file.
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual(recipeJsonSchema());
  });
});
