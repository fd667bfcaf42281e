// `sft --help` as a user pipes it: no colour codes, and none of the heavy modules loaded (TensorFlow.js,
// ts-morph, the native tier), which made it take seconds.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../testing/fixtures.ts";

const bin = join(repoRoot, "packages/core/bin/sft.js");
// Reports at exit the CommonJS modules loaded (TensorFlow.js and ts-morph are CommonJS, also when imported).
const probe = join(mkdtempSync(join(tmpdir(), "sft-startup-")), "loaded.cjs");
writeFileSync(
  probe,
  `process.on("exit", () => process.stderr.write("LOADED " + JSON.stringify(Object.keys(require.cache)) + "\\n"));\n`,
);

function sft(args: string[]): { stdout: string; loaded: string[] } {
  const env = { ...process.env };
  for (const name of ["NO_COLOR", "FORCE_COLOR", "CI", "TEST", "TERM"]) delete env[name];
  const r = spawnSync(process.execPath, ["--require", probe, bin, ...args], { encoding: "utf8", env });
  expect(r.status, r.stderr).toBe(0);
  const line = r.stderr.split("\n").find((l) => l.startsWith("LOADED "));
  return { stdout: r.stdout, loaded: JSON.parse(line!.slice(7)) as string[] };
}

describe("sft start-up", () => {
  it("--help into a pipe has no ANSI colour codes", () => {
    const { stdout } = sft(["--help"]);
    expect(stdout).toContain("init");
    expect(stdout).not.toContain("\u001b[");
  });

  it("--help loads neither TensorFlow.js nor ts-morph nor the native add-on", () => {
    const { loaded } = sft(["--help"]);
    expect(loaded.filter((f) => /@tensorflow|ts-morph|@sftkit[\\/]native|sftkit_native/.test(f))).toEqual([]);
  });
});
