import { describe, expect, it } from "vitest";
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
    expect(e.total).toBe(e.checkpoint * 4 + e.artefacts);
  });

  it("refuses a disk with less free than that, naming the folder and both numbers", async () => {
    const { plan } = await compileTest(testRecipe());
    const needed = diskEstimate(plan).total;
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
