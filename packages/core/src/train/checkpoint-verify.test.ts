// Verified checkpoints: a resume trusts only a checkpoint whose files match their checksums and hold finite
// values, falls back to the newest intact one saying which and why, and stops when none is intact.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../model/backend.ts";
import { findIntactCheckpoint } from "./checkpoint-verify.ts";
import { CHECKSUMS, writeChecksums } from "./checksums.ts";
import { compileTest, repo, testRecipe } from "./fixtures.testing.ts";
import { train } from "./loop.ts";
import { readStepMetrics } from "./metrics.ts";

beforeAll(async () => {
  await initBackend();
});

const quiet = { progress: "off", samples: 0, handleSigint: false } as const;

/** Overwrites the first `count` float32 values of a safetensors file's data with NaN (the header stays valid). */
function poison(file: string, count = 4): void {
  const bytes = readFileSync(file);
  const start = 8 + Number(bytes.readBigUInt64LE(0));
  for (let i = 0; i < count; i++) bytes.writeFloatLE(Number.NaN, start + 4 * i);
  writeFileSync(file, bytes);
}

describe("verified checkpoints", () => {
  it("each checkpoint records the sha256 and size of its files", async () => {
    const { plan, compiled } = await compileTest(testRecipe({ steps: 1 }));
    const r = await train(plan, { ...quiet, compiled });
    const sums = JSON.parse(readFileSync(join(r.checkpoint!, CHECKSUMS), "utf8"));
    expect(Object.keys(sums.files).sort()).toEqual([
      "optimizer.safetensors",
      "state.json",
      "trainable.safetensors",
    ]);
    for (const f of Object.values(sums.files) as { sha256: string; bytes: number }[]) {
      expect(f.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(f.bytes).toBeGreaterThan(0);
    }
  });

  it("--resume skips a damaged newest checkpoint, saying why, and continues from the one before", async () => {
    const { plan, compiled } = await compileTest(testRecipe({ steps: 6, checkpointEvery: 2 }));
    const full = await compileTest(testRecipe({ steps: 6, checkpointEvery: 2 }));
    const want = readStepMetrics((await train(full.plan, { ...quiet, compiled: full.compiled })).metricsFile);
    await train(plan, { ...quiet, compiled, maxSteps: 4 });
    const root = join(plan.output.dir, "checkpoints");
    poison(join(root, "step-4", "optimizer.safetensors"));
    const r = await train(plan, { ...quiet, compiled, resume: true });
    expect(r.resumedFrom).toBe(join(root, "step-2"));
    expect(r.steps).toBe(6);
    // metrics.jsonl holds each step once, and the resumed curve is the uninterrupted one.
    const got = readStepMetrics(r.metricsFile);
    expect(got.map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const [i, m] of got.entries()) expect(Math.abs(m.loss - want[i]!.loss)).toBeLessThan(1e-6);
  });

  it("names the damaged checkpoint and the reason it was skipped", async () => {
    const { plan, compiled } = await compileTest(testRecipe({ steps: 4, checkpointEvery: 1 }));
    await train(plan, { ...quiet, compiled, maxSteps: 2 });
    const root = join(plan.output.dir, "checkpoints");
    poison(join(root, "step-2", "trainable.safetensors"));
    const engine = await (await import("../engines/create.ts")).createEngine(plan);
    try {
      const loaded = await engine.load({ plan, model: { dir: compiled.resolved!.model!.dir! } });
      const said: string[] = [];
      const found = await findIntactCheckpoint(plan.output.dir, loaded.trainable, (m) => said.push(m));
      expect(found?.dir).toBe(join(root, "step-1"));
      expect(said).toEqual([
        "checkpoint step-1 is the newest intact one; skipped step-2 (trainable.safetensors does not match its checksum)",
      ]);
      // The same NaN with checksums that match (a state saved by a diverged run) is refused for its values.
      await writeChecksums(join(root, "step-2"), [
        "trainable.safetensors",
        "optimizer.safetensors",
        "state.json",
      ]);
      said.length = 0;
      await findIntactCheckpoint(plan.output.dir, loaded.trainable, (m) => said.push(m));
      expect(said[0]).toMatch(
        /^checkpoint step-1 is the newest intact one; skipped step-2 \(weights of "\S+" holds NaN at index 0\)$/,
      );
    } finally {
      engine.dispose();
    }
  });

  it("sft run --resume with its only checkpoint poisoned exits 1 in one line and writes no artefact", () => {
    const recipeInput = testRecipe({ steps: 4 });
    const out = (recipeInput.output as { dir: string }).dir;
    const recipe = join(out, "recipe.ts");
    writeFileSync(join(out, "package.json"), '{ "type": "module" }\n');
    writeFileSync(recipe, `export default ${JSON.stringify(recipeInput)};\n`);
    const sft = (...args: string[]) =>
      spawnSync(process.execPath, [join(repo, "packages/core/bin/sft.js"), ...args], {
        cwd: out,
        encoding: "utf8",
        env: { ...process.env, NO_COLOR: "1", SFTKIT_THREADS: "1" },
      });
    const first = sft("run", recipe, "--max-steps", "2");
    expect(first.status, first.stderr).toBe(0);
    // The first run's own artefacts go, so any found later came from the poisoned resume.
    for (const d of ["adapter", "model"]) rmSync(join(out, d), { recursive: true, force: true });
    poison(join(out, "checkpoints", "step-2", "optimizer.safetensors"));
    const r = sft("run", recipe, "--resume");
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      `sft run: no intact checkpoint in ${join(out, "checkpoints")}: step-2 (optimizer.safetensors does not match its checksum)`,
    );
    expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+\)/);
    expect(r.stdout).not.toContain("Trained");
    expect(readdirSync(out).filter((f) => f === "adapter" || f === "model")).toEqual([]);
  });
});
