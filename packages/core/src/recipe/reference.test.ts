import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { renderRecipeReference } from "./reference.ts";

describe("docs/recipe-reference.md", () => {
  const text = renderRecipeReference();

  it("is up to date with the schemas (run `pnpm docs:gen` after changing one)", () => {
    const file = join(import.meta.dirname, "../../../../docs/recipe-reference.md");
    expect(readFileSync(file, "utf8")).toBe(text);
  });

  it("documents every field with its description, default and every method kind", () => {
    // Cells are padded to their column (as biome formats markdown): compare with single spaces.
    expect(text.replace(/ {2,}/g, " ")).toContain(
      "| `train.maxLength` | integer (> 0) | `1024` | Longest sample in tokens. |",
    );
    for (const kind of ["full", "partial", "frozen", "lora", "qlora", "prefix"])
      expect(text).toContain(`### \`method.kind: "${kind}"\``);
    expect(text).toContain("`data.sources.<name>.format`");
    expect(text).not.toMatch(/\|\s+\|$/m); // no field without a description
  });
});
