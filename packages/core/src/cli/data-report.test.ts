// `sft data --report`: the HTML file, JSON on stdout, and a clear failure on a recipe that does not load.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const repo = join(import.meta.dirname, "../../../..");
const bin = join(repo, "packages/core/bin/sft.js");
const sft = (...args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], {
    cwd: repo,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
  });
const dir = mkdtempSync(join(tmpdir(), "sft-report-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("sft data --report", () => {
  it("writes a self-contained HTML report and prints the top findings", () => {
    const out = join(dir, "sub", "report.html");
    const r = sft("data", "examples/quickstart/recipe.ts", "--report", out);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Data-quality report: .*report\.html \(\d+ findings\)/);
    const html = readFileSync(out, "utf8");
    expect(html).toContain("<svg");
    expect(html).toContain("The realised mix");
    expect(html).not.toMatch(/<script|https?:\/\//);
  });

  it("--json prints the report as JSON with - as the file", () => {
    const r = sft("data", "examples/quickstart/recipe.ts", "--report", "-", "--json");
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as { version: number; sources: { name: string }[]; mix: unknown };
    expect(report.version).toBe(1);
    expect(report.sources.length).toBeGreaterThan(0);
    expect(report.mix).not.toBeNull();
  });

  it("a recipe that does not load: exit 1, diagnostics, no stack trace", () => {
    const r = sft(
      "data",
      "packages/core/src/recipe/fixtures/bad/syntax-error.ts",
      "--report",
      join(dir, "x.html"),
    );
    expect(r.status).toBe(1);
    expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+\)/);
  });
});
