// Retention: the newest N checkpoints plus the best by eval loss stay; metrics.jsonl logs each step and
// each evaluation once, also when a finished run is resumed.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../model/backend.ts";
import { pruneCheckpoints } from "./checkpoint-retention.ts";
import { compileTest, testRecipe } from "./fixtures.testing.ts";
import { train } from "./loop.ts";

beforeAll(async () => {
  await initBackend();
});

const quiet = { progress: "off", samples: 0, handleSigint: false } as const;
const stepsOf = (dir: string) =>
  readdirSync(dir)
    .map((n) => Number(n.replace("step-", "")))
    .sort((a, b) => a - b);

describe("checkpoint retention", () => {
  it("keeps the newest N and the one with the best eval loss", async () => {
    const out = mkdtempSync(join(tmpdir(), "sft-keep-"));
    for (let s = 1; s <= 6; s++) mkdirSync(join(out, "checkpoints", `step-${s}`), { recursive: true });
    const metrics = join(out, "metrics.jsonl");
    const evals = [
      { step: 2, evalLoss: 0.5 },
      { step: 4, evalLoss: 0.9 },
      { step: 6, evalLoss: 0.7 },
    ];
    writeFileSync(metrics, `${evals.map((e) => JSON.stringify(e)).join("\n")}\n{"step":6,"evalLo`);
    const removed = await pruneCheckpoints(out, 2, metrics);
    expect(stepsOf(join(out, "checkpoints"))).toEqual([2, 5, 6]);
    expect(removed.map((d) => d.split("step-")[1]).sort()).toEqual(["1", "3", "4"]);
  });

  it("a run keeps at most train.checkpointKeep (+ the best) of its checkpoints", async () => {
    const { plan, compiled } = await compileTest(
      testRecipe({ steps: 6, checkpointEvery: 1, checkpointKeep: 2, eval: { maxSamples: 8, every: 3 } }),
    );
    expect(plan.checkpoints.keep).toBe(2);
    await train(plan, { ...quiet, compiled });
    const kept = stepsOf(join(plan.output.dir, "checkpoints"));
    expect(kept.slice(-2)).toEqual([5, 6]);
    expect(kept.length).toBeLessThanOrEqual(3);
  });

  it("the default keeps 3", async () => {
    const { plan } = await compileTest(testRecipe({ steps: 1 }));
    expect(plan.checkpoints.keep).toBe(3);
  });

  it("resuming a finished run logs its last evaluation once", async () => {
    const { plan, compiled } = await compileTest(testRecipe({ steps: 2 }));
    await train(plan, { ...quiet, compiled });
    const r = await train(plan, { ...quiet, compiled, resume: true });
    const lines = readFileSync(r.metricsFile, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { step: number; loss?: number; evalLoss?: number });
    expect(lines.filter((l) => l.evalLoss !== undefined).map((l) => l.step)).toEqual([0, 2]);
    expect(lines.filter((l) => l.loss !== undefined).map((l) => l.step)).toEqual([1, 2]);
  });
});
