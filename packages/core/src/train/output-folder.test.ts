// Nothing destructive without an explicit flag: a fresh run over an earlier run's checkpoints refuses;
// --overwrite keeps them aside and never deletes ones kept before; crashed runs' temp files are cleaned.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../model/backend.ts";
import { compileTest, testRecipe } from "./fixtures.testing.ts";
import { train } from "./loop.ts";

beforeAll(async () => {
  await initBackend();
});

const quiet = { progress: "off", samples: 0, handleSigint: false } as const;

describe("an output folder with an earlier run", () => {
  it("a fresh run refuses (asking for --resume or --overwrite) and changes nothing", async () => {
    const { plan, compiled } = await compileTest(testRecipe({ steps: 4 }));
    await train(plan, { ...quiet, compiled, maxSteps: 2 });
    const out = plan.output.dir;
    const metrics = readFileSync(join(out, "metrics.jsonl"), "utf8");
    await expect(train(plan, { ...quiet, compiled })).rejects.toThrow(
      `${out} holds an earlier run's checkpoints (newest step-2): continue it with --resume, or start over with --overwrite`,
    );
    expect(readFileSync(join(out, "metrics.jsonl"), "utf8")).toBe(metrics);
    expect(readdirSync(join(out, "checkpoints"))).toEqual(["step-2"]);
    expect(existsSync(join(out, "checkpoints.previous"))).toBe(false);
  });

  it("--overwrite keeps the earlier checkpoints aside, and a second overwrite never deletes them", async () => {
    const { plan, compiled } = await compileTest(testRecipe({ steps: 2 }));
    const out = plan.output.dir;
    await train(plan, { ...quiet, compiled, maxSteps: 1 });
    await train(plan, { ...quiet, compiled, overwrite: true });
    await train(plan, { ...quiet, compiled, overwrite: true });
    expect(readdirSync(join(out, "checkpoints.previous"))).toEqual(["step-1"]);
    expect(readdirSync(join(out, "checkpoints.previous-2"))).toEqual(["step-2"]);
    expect(readdirSync(join(out, "checkpoints"))).toEqual(["step-2"]);
  });

  it("a run removes the temp files and folders crashed runs left behind", async () => {
    const { plan, compiled } = await compileTest(testRecipe({ steps: 2 }));
    await train(plan, { ...quiet, compiled, maxSteps: 1 });
    const out = plan.output.dir;
    const leftovers = [
      join(out, "checkpoints", ".tmp-step-2-999"),
      join(out, "checkpoints", ".old-step-1-999"),
      join(out, "model", "model.safetensors.tmp-999-0123abcd"),
      join(out, "metrics.jsonl.tmp-999-89abcdef"),
      // util/atomic-folder's temp folders: a model, an adapter and a checkpoint being written.
      join(out, "model.tmp-999-0a1b2c3d"),
      join(out, "adapter.tmp-999-4e5f6a7b"),
      join(out, "checkpoints", "step-2.tmp-999-8c9d0e1f"),
    ];
    for (const i of [0, 1, 4, 5, 6]) mkdirSync(leftovers[i]!, { recursive: true });
    writeFileSync(join(leftovers[4]!, "model.safetensors"), "half");
    mkdirSync(join(out, "model"), { recursive: true });
    writeFileSync(leftovers[2]!, "half");
    writeFileSync(leftovers[3]!, "half");
    const r = await train(plan, { ...quiet, compiled, resume: true });
    expect(r.steps).toBe(2);
    for (const f of leftovers) expect(existsSync(f), f).toBe(false);
  });
});
