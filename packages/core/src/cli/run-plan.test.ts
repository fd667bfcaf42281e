// `sft run plan.json`: training from a plan written by `sft plan`, without the recipe.
import { spawnSync } from "node:child_process";
import { readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { copyExamples } from "../testing/example-copy.ts";

const repo = join(import.meta.dirname, "../../../..");
const bin = join(repo, "packages/core/bin/sft.js");
const sft = (cwd: string, ...args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], {
    cwd,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", SFTKIT_THREADS: "1" },
  });

/** The examples in a temporary folder (see copyExamples), the quickstart planned: plan.json and the data cache written. */
function plannedQuickstart() {
  const copy = copyExamples("sft-run-plan-");
  const recipe = copy.recipe("quickstart");
  const planned = sft(repo, "plan", recipe);
  expect(planned.status, planned.stderr).toBe(0);
  return { root: copy.root, dir: dirname(recipe), recipe, plan: join(copy.out("quickstart"), "plan.json") };
}

describe("sft run plan.json", () => {
  it("trains from the plan with the recipe gone; a missing cache entry is one located line, no stack", () => {
    const q = plannedQuickstart();
    rmSync(q.recipe);
    const ok = sft(q.root, "run", q.plan, "--max-steps", "1");
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/Trained 1 step \(/);

    const entries = join(q.dir, ".sft-cache", "data");
    for (const f of readdirSync(entries)) rmSync(join(entries, f));
    const r = sft(q.root, "run", q.plan);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `^sft run: ${q.plan}: data\\.cache\\.keys\\.\\w+: the data cache entry ${entries}/\\w+\\.bin`,
      ),
    );
    expect(r.stderr).toContain(`compile the recipe again to rebuild it: sft plan ${q.recipe}`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
