import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadRecipeFile } from "./load.ts";

function recipeFile(text: string, module = true): string {
  const dir = mkdtempSync(join(tmpdir(), "sft-load-"));
  if (module) writeFileSync(join(dir, "package.json"), '{ "type": "module" }\n');
  const file = join(dir, "recipe.ts");
  writeFileSync(file, text);
  return file;
}

async function firstDiagnostic(file: string) {
  const r = await loadRecipeFile(file);
  expect(r.ok).toBe(false);
  return (r as { diagnostics: { message: string; location?: { line: number; column: number } }[] })
    .diagnostics[0]!;
}

describe("loading a recipe file", () => {
  it("a recipe.ts in a CommonJS package (npm init -y) gives its default export, not module.exports", async () => {
    const file = recipeFile('export default { name: "cjs", model: { path: "m" } };\n', false);
    writeFileSync(join(file, "..", "package.json"), '{ "name": "p", "version": "1.0.0" }\n');
    const r = await loadRecipeFile(file);
    expect(r.ok && r.value).toEqual({ name: "cjs", model: { path: "m" } });
  });

  it("a CommonJS recipe that assigns module.exports gives that object", async () => {
    const file = recipeFile('module.exports = { name: "plain" };\n', false);
    const r = await loadRecipeFile(file);
    expect(r.ok && r.value).toEqual({ name: "plain" });
  });

  it("an empty file says so (also outside an ES module package)", async () => {
    for (const module of [true, false]) {
      const file = recipeFile("\n  \n", module);
      expect((await firstDiagnostic(file)).message).toBe(`the recipe file is empty: ${file}`);
    }
  });

  it("a folder given as the recipe says so", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "sft-load-")), "recipe.ts");
    mkdirSync(dir);
    expect((await firstDiagnostic(dir)).message).toBe(`the recipe path is a folder, not a file: ${dir}`);
  });

  it("a missing imported module is located at its import", async () => {
    const file = recipeFile(
      'const name = "x";\n\nimport { base } from "./shared/base.ts";\nexport default { ...base, name };\n',
    );
    const d = await firstDiagnostic(file);
    expect(d.message).toMatch(/Cannot find module .*shared\/base\.ts/);
    expect(d.location).toMatchObject({ line: 3, column: 23 });
  });

  it("a missing package is located at its import, also through require", async () => {
    const file = recipeFile(
      'const x = 1;\nimport pkg from "no-such-package-xyz/sub";\nexport default pkg;\n',
    );
    expect((await firstDiagnostic(file)).location).toMatchObject({ line: 2, column: 18 });
    const cjs = recipeFile('const x = 1;\nconst r = require("./gone");\nexport default r;\n', false);
    expect((await firstDiagnostic(cjs)).location).toMatchObject({ line: 2, column: 20 });
  });
});
