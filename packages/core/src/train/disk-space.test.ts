import { statSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { entryPath } from "../data/cache/store.ts";
import type { RecipeInput } from "../recipe/schema/recipe.ts";
import { checkDiskSpace, diskEstimate } from "./disk-space.ts";
import { TrainError } from "./errors.ts";
import { compileTest, testRecipe } from "./fixtures.testing.ts";

describe("disk space before a run", () => {
  it("estimates kept checkpoints and artefacts from the plan", async () => {
    const { plan } = await compileTest(
      testRecipe({ steps: 10, checkpointEvery: 2, checkpointKeep: 2 }, {
        method: { kind: "lora", rank: 4, alpha: 8, targets: "all-linear" },
        output: { dir: "/tmp/sft-disk-estimate", save: "both" },
      } as Partial<RecipeInput>),
    );
    const e = diskEstimate(plan);
    // The plan carries the same estimate (`sft plan` shows it, `sft run` checks it).
    expect(plan.disk).toEqual(e);
    expect(e.checkpoint).toBe(plan.parameters.trainable * 12);
    // 5 checkpoints written, at most keep 2 + the best + the one being written on disk at once.
    expect(e.checkpointsHeld).toBe(4);
    expect(e.artefacts).toBeGreaterThan(plan.parameters.total * 4 + plan.parameters.trainable * 4);
    expect(e.total).toBe(e.checkpoint * 4 + e.artefacts + e.dataCache);
  });

  it("counts the tokenized data cache the plan names, about the size of its entries on disk", async () => {
    const { plan } = await compileTest(testRecipe({ steps: 2 }));
    const { dir, keys } = plan.data.cache;
    const entries = Object.values(keys ?? {}).map((k) => entryPath(dir!, k!));
    expect(entries.length).toBeGreaterThan(0);
    const onDisk = entries.reduce((a, f) => a + statSync(f).size, 0);
    const e = diskEstimate(plan);
    expect(plan.disk).toEqual(e);
    // All but each entry's metadata JSON (file names, kept problems: a few KiB).
    expect(e.dataCache).toBeLessThanOrEqual(onDisk);
    expect(e.dataCache).toBeGreaterThan(onDisk - 16 * 1024 * entries.length);
    expect(e.total).toBe(e.checkpoint * e.checkpointsHeld + e.artefacts + e.dataCache);
  });

  it("refuses a disk with less free than that, naming the folder and both numbers", async () => {
    const { plan } = await compileTest(testRecipe());
    // The data cache is on disk before the run starts (compile wrote it): the run needs the rest.
    const e = diskEstimate(plan);
    expect(e.dataCache).toBeGreaterThan(0);
    const needed = e.total - e.dataCache;
    expect(() => checkDiskSpace(plan, needed)).not.toThrow();
    expect(() => checkDiskSpace(plan, null)).not.toThrow();
    let err: unknown;
    try {
      checkDiskSpace(plan, needed - 1);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TrainError);
    expect((err as Error).message).toMatch(
      new RegExp(`^not enough disk space for ${plan.output.dir}: the run writes about .+ are free there`),
    );
  });
});
