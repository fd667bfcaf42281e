// docs/diagnostics.md is the troubleshooting page: every diagnostic id the code can emit must be on it.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { acknowledgeableErrorIds, warningIds } from "./warnings.ts";

const src = join(import.meta.dirname, "..");
const doc = readFileSync(join(src, "../../../docs/diagnostics.md"), "utf8");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory())
      return name === "fixtures" || name.startsWith("__") ? [] : sourceFiles(path);
    return name.endsWith(".ts") && !name.includes(".test.") && !name.includes("testing") ? [path] : [];
  });
}

describe("docs/diagnostics.md", () => {
  const codes = new Set(
    sourceFiles(src).flatMap((f) =>
      [...readFileSync(f, "utf8").matchAll(/"(sft\/[a-z0-9-]+)"/g)].map((m) => m[1]!),
    ),
  );

  it("finds the codes in the source", () => {
    expect(codes.size).toBeGreaterThan(30);
    expect(codes).toContain("sft/unknown-key");
  });

  it("documents every diagnostic id the code emits, and every warning id", () => {
    const missing = [...codes, ...Object.keys(warningIds), ...Object.keys(acknowledgeableErrorIds)].filter(
      (code) => !doc.includes(`\`${code}\``),
    );
    expect(missing).toEqual([]);
  });
});
