// The diagnostic catalogue (recipe/catalogue.ts) is the one list of codes: the source emits exactly its codes,
// and docs/diagnostics.md, the troubleshooting page, is generated from it.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { diagnosticCatalogue, diagnosticCodes, isAcknowledgeable } from "./catalogue.ts";
import { renderDiagnosticsPage } from "./diagnostics-doc.ts";
import { acknowledgeableIdList, warningIds } from "./warnings.ts";

const src = join(import.meta.dirname, "..");
const docFile = join(src, "../../../docs/diagnostics.md");
const catalogueFile = join(import.meta.dirname, "catalogue.ts");

/** Source files that may emit a code: not tests, test helpers, recipe fixtures nor the catalogue itself. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory())
      return name === "fixtures" || name === "testing" || name.startsWith("__") ? [] : sourceFiles(path);
    const emits = name.endsWith(".ts") && !name.includes(".test.") && path !== catalogueFile;
    return emits ? [path] : [];
  });
}

/** Every `"sft/..."` literal of the source, with the files it is written in. */
function codesInSource(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const file of sourceFiles(src)) {
    for (const m of readFileSync(file, "utf8").matchAll(/["'`](sft\/[a-z0-9-]+)["'`]/g)) {
      found.set(m[1]!, [...(found.get(m[1]!) ?? []), relative(src, file)]);
    }
  }
  return found;
}

describe("the diagnostic catalogue", () => {
  const emitted = codesInSource();

  it("finds the codes in the source", () => {
    expect(emitted.size).toBeGreaterThan(30);
    expect(emitted.has("sft/unknown-key")).toBe(true);
  });

  it("lists every code the source emits", () => {
    const uncatalogued = [...emitted].filter(([code]) => !(code in diagnosticCatalogue));
    expect(uncatalogued).toEqual([]);
  });

  it("lists no code the source never emits", () => {
    expect(diagnosticCodes.filter((code) => !emitted.has(code))).toEqual([]);
  });

  it("makes every warning, and only the errors marked so, acknowledgeable", () => {
    expect(Object.keys(warningIds)).toEqual(
      diagnosticCodes.filter((c) => diagnosticCatalogue[c].severity === "warning"),
    );
    expect([...acknowledgeableIdList].sort()).toEqual(diagnosticCodes.filter(isAcknowledgeable).sort());
    expect(acknowledgeableIdList).toContain("sft/template-drops-feature");
    expect(acknowledgeableIdList).not.toContain("sft/unknown-key");
  });
});

describe("docs/diagnostics.md", () => {
  const page = renderDiagnosticsPage();

  it("is up to date with the catalogue (run `pnpm docs:gen` after changing it)", () => {
    expect(readFileSync(docFile, "utf8")).toBe(page);
  });

  it("documents every code with its stage, meaning and fix", () => {
    // Cells are padded to their column (as biome formats markdown): compare with single spaces.
    const text = page.replace(/ {2,}/g, " ");
    for (const code of diagnosticCodes) expect(text).toContain(`| \`${code}\``);
    expect(text).toContain(
      "| `sft/pad-is-eos` | check | the pad token is the EOS, so masking padding would mask the EOS | use a separate pad token |",
    );
    expect(text).toContain("| `sft/template-drops-feature` (acknowledgeable) | data |");
  });
});
