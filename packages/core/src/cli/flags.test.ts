// Strict flags: unknown or misspelled flags and extra arguments are refused with a suggestion, before a
// command does anything (`--resum` once started a fresh run and retired the checkpoints).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ArgsDef } from "citty";
import { describe, expect, it } from "vitest";
import { planCommand } from "./commands/plan.ts";
import { runArgs } from "./commands/run.ts";
import { argProblems } from "./flags.ts";

const planArgs = planCommand.args as ArgsDef;
const repo = join(import.meta.dirname, "../../../..");
const bin = join(repo, "packages/core/bin/sft.js");
const sft = (...args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], {
    cwd: repo,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
  });

describe("argProblems", () => {
  it("names unknown flags with the closest known one", () => {
    expect(argProblems(runArgs, ["r.ts", "--resum"])).toEqual([
      "unknown flag --resum (did you mean --resume?)",
    ]);
    expect(argProblems(runArgs, ["r.ts", "--max-step", "1"])).toEqual([
      "unknown flag --max-step (did you mean --max-steps?)",
      'unexpected argument "1"',
    ]);
    expect(argProblems(runArgs, ["r.ts", "--frobnicate=3"])).toEqual(["unknown flag --frobnicate"]);
    expect(argProblems(planArgs, ["r.ts", "--jsn"])).toEqual(["unknown flag --jsn (did you mean --json?)"]);
  });

  it("refuses extra arguments and accepts every declared spelling", () => {
    expect(argProblems(runArgs, ["a.ts", "b.ts"])).toEqual(['unexpected argument "b.ts"']);
    expect(argProblems(runArgs, ["a.ts", "--", "--x"])).toEqual(['unexpected argument "--x"']);
    for (const ok of [
      ["a.ts", "--resume"],
      ["a.ts", "--max-steps", "2"],
      ["--max-steps=2", "a.ts"],
      ["a.ts", "--maxSteps", "2", "--overwrite"],
      ["a.ts", "--no-resume", "--help"],
    ])
      expect(argProblems(runArgs, ok), ok.join(" ")).toEqual([]);
    expect(argProblems(planArgs, ["a.ts", "--no-data", "--json"])).toEqual([]);
  });
});

describe("sft with a misspelled flag", () => {
  it("run --resum exits 1 with a suggestion and touches nothing", () => {
    const out = join(mkdtempSync(join(tmpdir(), "sft-flags-")), "never");
    const r = sft("run", out, "--resum");
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("sft run: unknown flag --resum (did you mean --resume?)");
    expect(r.stdout).toBe("");
    expect(existsSync(out)).toBe(false);
  });

  it("plan --jsn exits 1 naming the flag and its likely spelling", () => {
    const plan = sft("plan", "examples/quickstart/recipe.ts", "--jsn");
    expect(plan.status).toBe(1);
    expect(plan.stderr).toContain("sft plan: unknown flag --jsn (did you mean --json?)");
    expect(plan.stdout).toBe("");
  });

  it("data with an extra argument exits 1 naming it", () => {
    const data = sft("data", "examples/quickstart/recipe.ts", "extra");
    expect(data.status).toBe(1);
    expect(data.stderr).toContain('sft data: unexpected argument "extra"');
  });
});
