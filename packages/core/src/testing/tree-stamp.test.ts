import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { watchTree } from "./tree-stamp.ts";

const root = mkdtempSync(join(tmpdir(), "sft-tree-stamp-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("watchTree", () => {
  it("sees a folder created where there was none, with what was written in it", () => {
    const out = join(root, "fresh", "out");
    const changed = watchTree(out);
    mkdirSync(join(out, "quickstart"), { recursive: true });
    writeFileSync(join(out, "quickstart", "plan.json"), "{}");
    expect(changed()).toEqual(["added out", "added out/quickstart", "added out/quickstart/plan.json"]);
  });

  it("sees a file rewritten in place (same size), one added and one removed; nothing when untouched", () => {
    const out = join(root, "used", "out");
    mkdirSync(join(out, "quickstart"), { recursive: true });
    const plan = join(out, "quickstart", "plan.json");
    writeFileSync(plan, "{}");
    writeFileSync(join(out, "quickstart", "old.txt"), "x");
    const past = new Date(Date.now() - 60_000);
    for (const p of [plan, join(out, "quickstart"), out]) utimesSync(p, past, past);
    const changed = watchTree(out);
    expect(changed()).toEqual([]);

    writeFileSync(plan, "[]");
    expect(changed()).toEqual(["modified out/quickstart/plan.json"]);
    rmSync(join(out, "quickstart", "old.txt"));
    mkdirSync(join(out, "cli-run-1"));
    expect(changed()).toEqual([
      "added out/cli-run-1",
      "modified out",
      "modified out/quickstart",
      "modified out/quickstart/plan.json",
      "removed out/quickstart/old.txt",
    ]);
  });

  it("sees a folder that a test created and removed again (its parent's mtime moved)", () => {
    const out = join(root, "transient", "out");
    mkdirSync(out, { recursive: true });
    const past = new Date(Date.now() - 60_000);
    utimesSync(out, past, past);
    const changed = watchTree(out);
    mkdirSync(join(out, "cli-run-2"));
    rmSync(join(out, "cli-run-2"), { recursive: true });
    expect(changed()).toEqual(["modified out"]);
  });
});
