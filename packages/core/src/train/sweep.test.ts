// Sweeps on stories260K (a few steps each, in a temporary copy of the examples): a 2 x 2 grid end to end with
// its report, a trial stopped mid-run resumed from its checkpoint, and bad trials stopping the whole sweep at
// compile time with every problem listed and nothing trained.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { applyOverrides } from "../recipe/overrides.ts";
import { copyExamples } from "../testing/example-copy.ts";
import { readRunStatus } from "./run-status.ts";
import { compileSweep, loadSweepFile, readSweepState, runSweep, sweepRoot } from "./sweep.ts";

const repo = join(import.meta.dirname, "../../../..");
const bin = join(repo, "packages/core/bin/sft.js");
const copies: string[] = [];
afterAll(() => {
  for (const dir of copies) rmSync(dir, { recursive: true, force: true });
});

/** A sweep file beside the quickstart recipe in a fresh copy; its trials: 4 steps, short samples. */
function sweepFile(axes: string, name = "grid", steps = 4): string {
  const copy = copyExamples("sft-sweep-");
  copies.push(copy.root);
  const file = join(dirname(copy.recipe("quickstart")), `${name}.ts`);
  writeFileSync(
    file,
    `import { defineSweep, extendRecipe } from "@sftkit/core";
import recipe from "./recipe.ts";

const base = extendRecipe(recipe, {
  train: { steps: ${steps}, checkpointEvery: 2, maxLength: 64, tokensPerMicroBatch: 256, eval: { maxSamples: 4 } },
});

export default defineSweep(base, {
  axes: {
${axes}
  },
});
`,
  );
  return file;
}

const sft = (cwd: string, ...args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], {
    cwd,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", SFTKIT_THREADS: "1" },
  });

describe("sft sweep", () => {
  it("runs a 2 x 2 grid end to end: a folder, plan and finished run per trial, then the comparison report", () => {
    const file = sweepFile(`    "train.learningRate": [1e-3, 5e-3],\n    "method.rank": [4, 8],`);
    const r = sft(dirname(file), "sweep", file);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.status).toBe(0);
    const root = join(dirname(file), "out/grid");
    const state = readSweepState(root)!;
    expect(state.trials.map((t) => [t.folder, t.status])).toEqual([
      ["01-method.rank=4,train.learningRate=0.001", "finished"],
      ["02-method.rank=8,train.learningRate=0.001", "finished"],
      ["03-method.rank=4,train.learningRate=0.005", "finished"],
      ["04-method.rank=8,train.learningRate=0.005", "finished"],
    ]);
    for (const t of state.trials) {
      const dir = join(root, t.folder);
      const plan = JSON.parse(readFileSync(join(dir, "plan.json"), "utf8"));
      expect(plan.recipe.overrides).toEqual(t.overrides);
      expect(plan.method.rank).toBe(t.overrides.find((o) => o.path === "method.rank")!.value);
      expect(readRunStatus(dir)).toMatchObject({ status: "finished", steps: 4 });
    }
    const report = JSON.parse(readFileSync(join(root, "report.json"), "utf8"));
    expect(report.differing).toEqual(["method.rank", "train.learningRate"]);
    expect(report.runs).toHaveLength(4);
    expect(report.runs.every((x: { finalEvalLoss: number | null }) => x.finalEvalLoss !== null)).toBe(true);
    expect(report.best).toMatch(/^0\d-/);
    expect(readFileSync(join(root, "report.html"), "utf8")).toContain("<h1>Sweep: grid</h1>");
    expect(r.stdout).toContain(`best by eval loss: ${report.best}`);
  });

  it("resumes a trial killed mid-run from its checkpoint, and does not train finished trials again", async () => {
    const file = sweepFile(`    "train.learningRate": [1e-3, 5e-3],`, "resume", 40);
    const root = join(dirname(file), "out/resume");
    const second = join(root, "02-train.learningRate=0.005");
    // SIGKILL once trial 02 has written its step-2 checkpoint (a kill leaves no chance to clean up).
    const child = spawn(process.execPath, [bin, "sweep", file], {
      cwd: dirname(file),
      env: { ...process.env, NO_COLOR: "1", SFTKIT_THREADS: "1" },
      stdio: "ignore",
    });
    const exited = new Promise((done) => child.on("exit", done));
    while (!existsSync(join(second, "checkpoints/step-2/checksums.json")) && child.exitCode === null)
      await new Promise((r) => setTimeout(r, 20));
    child.kill("SIGKILL");
    await exited;
    expect(readSweepState(root)!.trials.map((t) => t.status)).toEqual(["finished", "running"]);
    expect(readRunStatus(second)!.status).toBe("running");
    const listed = sft(dirname(file), "runs", root);
    expect(listed.stdout).toMatch(/02-train\.learningRate=0\.005\s+interrupted/);

    const again = sft(dirname(file), "sweep", file);
    expect(again.status).toBe(0);
    expect(again.stdout).not.toContain("trial 01 train.learningRate");
    expect(again.stdout).toMatch(
      /resuming from .*02-train\.learningRate=0\.005\/checkpoints\/step-\d+ \(step \d+\)/,
    );
    expect(readSweepState(root)!.trials.map((t) => t.status)).toEqual(["finished", "finished"]);
    expect(readRunStatus(second)).toMatchObject({ status: "finished", steps: 40 });
  });

  it("records a failed trial and goes on with the next one", async () => {
    const file = sweepFile(`    "method.rank": [4, 8],`, "fails");
    const loaded = await loadSweepFile(file);
    if (!loaded.ok) throw new Error("the sweep did not load");
    const trained: string[] = [];
    const run = await runSweep(loaded.sweep, {
      trainPlan: async (plan) => {
        if (plan.output.dir.includes("/01-")) throw new Error("out of memory on the device");
        trained.push(plan.output.dir);
        return { interrupted: false, steps: 4 } as Awaited<ReturnType<typeof import("./loop.ts").train>>;
      },
    });
    expect(run.ok).toBe(true);
    expect(trained).toHaveLength(1);
    expect(run.state!.trials.map((t) => [t.status, t.error])).toEqual([
      ["failed", "out of memory on the device"],
      ["finished", null],
    ]);
    expect(readSweepState(sweepRoot(loaded.sweep))!.trials[0]!.status).toBe("failed");

    // Again: the failed trial is retried (resuming); then, with the recipe changed, both start over.
    const calls: string[] = [];
    const stub = (sweep: typeof loaded.sweep) =>
      runSweep(sweep, {
        trainPlan: async (plan, opts) => {
          calls.push(
            `${plan.output.dir.split("/").pop()!.slice(0, 2)} ${opts?.overwrite ? "fresh" : "resume"}`,
          );
          return { interrupted: false, steps: 4 } as Awaited<ReturnType<typeof import("./loop.ts").train>>;
        },
      });
    await stub(loaded.sweep);
    expect(calls).toEqual(["01 resume"]);
    calls.length = 0;
    const base = loaded.sweep.base;
    // applyOverrides keeps the recipe's source file, so its relative paths still resolve.
    const changed = applyOverrides(base, [{ path: "train.seed", value: 7, origin: "test" }]) as typeof base;
    await stub({ ...loaded.sweep, base: changed });
    expect(calls).toEqual(["01 fresh", "02 fresh"]);
  });

  it("locates a misspelled axis path at the axis in the sweep file, with the path it likely meant", async () => {
    const file = sweepFile(`    "train.learningrate": [1e-3] as never,`, "typo");
    const loaded = await loadSweepFile(file);
    if (!loaded.ok) throw new Error("the sweep did not load");
    const [trial] = await compileSweep(loaded.sweep, { write: false, readData: false });
    expect(trial!.result.plan).toBeNull();
    expect(trial!.blocking).toHaveLength(1);
    expect(trial!.blocking[0]).toMatchObject({
      code: "sft/unknown-key",
      override: expect.stringMatching(/typo\.ts:10:28 axes\["train\.learningrate"\]\[0\] \(trial 01\)$/),
      hint: "did you mean `train.learningRate`?",
    });
  });

  it("stops at compile time when any trial has a problem, listing every problem of every trial", () => {
    const file = sweepFile(
      `    "train.learningRate": [1e-3, "abc" as never],\n    "train.tokensPerMicroBatch": [256, 4_000_000],`,
      "bad",
    );
    const r = sft(dirname(file), "sweep", file);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("3 of 4 trials have problems; nothing was run");
    // Trial 02 would not fit in memory; 03 and 04 have a bad value, located at the axis value in the sweep file.
    expect(r.stderr).toMatch(/trial 02 \(.*\):\n.*\[sft\/memory-exceeds-device\]/);
    for (const id of ["03", "04"])
      expect(r.stderr).toMatch(
        new RegExp(
          `bad\\.ts:10:34 axes\\["train\\.learningRate"\\]\\[1\\] \\(trial ${id}\\) error train\\.learningRate: expected number, got "abc"`,
        ),
      );
    expect(r.stderr).not.toContain("trial 01 (");
    expect(existsSync(join(dirname(file), "out/bad/sweep.json"))).toBe(false);
    expect(
      existsSync(
        join(
          dirname(file),
          "out/bad/01-train.learningRate=0.001,train.tokensPerMicroBatch=256/metrics.jsonl",
        ),
      ),
    ).toBe(false);
  });
});
