// The run-wide checks of global-setup.ts, seen from outside: a nested vitest run on two test files that
// import fixtures.ts, with ../shared/fixtures pointed somewhere absent.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { expect, it } from "vitest";
import { repoRoot } from "./fixtures.ts";

it("a run without ../shared/fixtures says so once, not once per test file", () => {
  const missing = join(repoRoot, "no-such-fixtures-folder");
  const r = spawnSync(
    process.execPath,
    [
      join(repoRoot, "node_modules/vitest/vitest.mjs"),
      "run",
      "packages/core/src/model/config.test.ts",
      "packages/core/src/data/formats/formats.test.ts",
    ],
    {
      cwd: repoRoot,
      encoding: "utf8",
      env: { ...process.env, SFTKIT_FIXTURES: missing, NO_COLOR: "1", FORCE_COLOR: "0" },
    },
  );
  const output = r.stdout + r.stderr;
  expect(r.status, output).toBe(0);
  expect(output).toMatch(/Test Files +2 passed/);
  expect(output.split(`../shared/fixtures not found at ${missing}`)).toHaveLength(2);
});
