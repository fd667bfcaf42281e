// Ordinary failures through the `sft` bin: one line on stderr naming the path, exit 1, never a stack trace.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { plainTemplate } from "../train/fixtures.testing.ts";

const repo = join(import.meta.dirname, "../../../..");
const bin = join(repo, "packages/core/bin/sft.js");
const stories = join(repo, "examples/models/stories260K");
const chat = join(repo, "examples/quickstart/data/chat.jsonl");

function sft(cwd: string, args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [bin, ...args], {
    cwd,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", SFTKIT_THREADS: "1", ...env },
  });
}

/** A two-step recipe in a fresh folder; `edit` changes its fields (written as JSON). */
function recipeDir(edit: (r: Record<string, unknown>) => void = () => {}): string {
  const dir = mkdtempSync(join(tmpdir(), "sft-cli-fail-"));
  const recipe: Record<string, unknown> = {
    name: "failures",
    model: { path: stories },
    template: { jinja: plainTemplate },
    data: { sources: { chat: { path: chat, format: "messages", eval: 4, samples: 16 } } },
    method: { kind: "full" },
    train: {
      steps: 2,
      learningRate: 3e-3,
      maxLength: 128,
      tokensPerMicroBatch: 512,
      eval: { maxSamples: 4 },
    },
    output: { dir: "out" },
  };
  edit(recipe);
  writeFileSync(join(dir, "package.json"), '{ "type": "module" }\n');
  writeFileSync(join(dir, "recipe.ts"), `export default ${JSON.stringify(recipe, null, 2)};\n`);
  return dir;
}

const stackTrace = /\n\s+at .+:\d+:\d+\)?/;

function expectOneLine(r: ReturnType<typeof sft>, pattern: RegExp) {
  expect(r.status).toBe(1);
  expect(r.stderr).not.toMatch(stackTrace);
  const lines = r.stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
}

describe("sft on ordinary failures", () => {
  it("plan on a read-only output folder: one line naming plan.json", () => {
    const dir = recipeDir();
    const r = sft(dir, ["plan", "recipe.ts"], { SFTKIT_FAULT_WRITE: "EROFS" });
    expectOneLine(r, /^sft plan: cannot write .*\/out\/plan\.json: the file system is read-only \(EROFS\)$/);
  });

  it("run on a read-only output folder: one line naming the file", () => {
    const dir = recipeDir();
    const r = sft(dir, ["run", "recipe.ts"], { SFTKIT_FAULT_WRITE: "EROFS" });
    expect(r.stderr).not.toMatch(stackTrace);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(
      /^sft run: cannot write .*\/out\/plan\.json: the file system is read-only \(EROFS\)$/,
    );
  });

  it("run on a disk that fills while the model is written: the path and the bytes needed", () => {
    const dir = recipeDir();
    const r = sft(dir, ["run", "recipe.ts"], { SFTKIT_FAULT_WRITE: "ENOSPC@model.safetensors" });
    expect(r.status).toBe(1);
    expect(r.stderr).not.toMatch(stackTrace);
    const last = r.stderr.trim().split("\n").at(-1)!;
    expect(last).toMatch(
      /^sft run: cannot write .*\/out\/model\/model\.safetensors: no space left on the device \(ENOSPC\); [\d.]+ KiB needed, .+ free there$/,
    );
  }, 60_000);

  it("run on a disk with less free than the plan's estimate: refused before training", () => {
    const dir = recipeDir();
    const r = sft(dir, ["run", "recipe.ts"], { SFTKIT_FAULT_FREE_BYTES: "100000" });
    expect(r.status).toBe(1);
    expect(r.stderr).not.toMatch(stackTrace);
    expect(r.stderr.trim().split("\n").at(-1)).toMatch(
      /^sft run: not enough disk space for .*\/out: the run writes about [\d.]+ MiB \(.+\), 97\.7 KiB are free there; /,
    );
    expect(existsSync(join(dir, "out", "checkpoints"))).toBe(false);
    expect(existsSync(join(dir, "out", "metrics.jsonl"))).toBe(false);
  });

  it("plan with a file where the output folder should be", () => {
    const dir = recipeDir();
    writeFileSync(join(dir, "out"), "not a folder\n");
    const r = sft(dir, ["plan", "recipe.ts"]);
    expectOneLine(
      r,
      /^sft plan: cannot create the folder .*\/out: a file of that name is in the way \(EEXIST\)$/,
    );
  });

  it("plan with template.file naming a folder: a located diagnostic", () => {
    const dir = recipeDir((r) => {
      r.template = { file: "templates" };
    });
    mkdirSync(join(dir, "templates"));
    const r = sft(dir, ["plan", "recipe.ts"]);
    expect(r.status).toBe(1);
    expect(r.stderr).not.toMatch(stackTrace);
    expect(r.stderr).toMatch(
      /recipe\.ts:\d+:\d+ error template\.file: .*templates is a folder, not a template file \[sft\/template-not-found\]/,
    );
  });

  it("plan with an empty data file: a located diagnostic naming the source", () => {
    const dir = recipeDir((r) => {
      r.data = { sources: { chat: { path: "empty.jsonl", format: "messages", eval: 4 } } };
    });
    writeFileSync(join(dir, "empty.jsonl"), "");
    const r = sft(dir, ["plan", "recipe.ts"]);
    expect(r.status).toBe(1);
    expect(r.stderr).not.toMatch(stackTrace);
    expect(r.stderr).toMatch(
      /recipe\.ts:\d+:\d+ error data\.sources\.chat\.path: source `chat` has no rows \(empty\.jsonl\) \[sft\/empty-source\]/,
    );
  });
});
