// NEFTune through the loop on stories260K: noise in training passes only, the same run twice gives the same
// losses, and a resumed run the uninterrupted one's (its noise is seeded per step and micro-batch).
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../model/backend.ts";
import { nativeAvailability } from "../model/native/load.ts";
import type { RecipeInput } from "../recipe/schema/recipe.ts";
import { compileTest, testRecipe } from "./fixtures.testing.ts";
import { train } from "./loop.ts";
import { readStepMetrics } from "./metrics.ts";

beforeAll(async () => {
  await initBackend();
});

const quiet = { progress: "off", samples: 0, handleSigint: false } as const;
const lora: Partial<RecipeInput> = {
  method: { kind: "lora", rank: 4, alpha: 8, dropout: 0, targets: "all-linear" },
};

async function run(neftuneAlpha: number | undefined, t: Record<string, unknown> = {}, maxSteps?: number) {
  const { plan, compiled } = await compileTest(testRecipe({ steps: 4, neftuneAlpha, ...t }, lora));
  const r = await train(plan, { ...quiet, compiled, ...(maxSteps ? { maxSteps } : {}) });
  return { plan, compiled, r, losses: readStepMetrics(r.metricsFile).map((m) => m.loss) };
}

describe("NEFTune (train.neftuneAlpha)", () => {
  it("adds noise to training passes only: the same eval loss, a different training loss", async () => {
    // On tfjs too (auto would take native for it), so the engines' rounding does not differ.
    const plain = await run(undefined, { engine: "tfjs" });
    const noisy = await run(5, { engine: "tfjs" });
    expect(noisy.plan.neftune).toEqual({ alpha: 5 });
    expect(plain.plan.neftune).toBeUndefined();
    // Evaluation before any update: no noise, so the same model gives the same loss.
    expect(noisy.r.initialEvalLoss).toBe(plain.r.initialEvalLoss);
    // Step 1 trains the same model on the same batch: only the noise differs.
    expect(Math.abs(noisy.losses[0]! - plain.losses[0]!)).toBeGreaterThan(1e-4);
  });

  it("gives identical runs with one seed, and a resumed run equals the uninterrupted one", async () => {
    const t = { checkpointEvery: 2, gradientAccumulation: 2 };
    const a = await run(5, t);
    // Auto: the native engine where it is built (it implements NEFTune), else tfjs.
    expect(a.plan.engine?.chosen).toBe(nativeAvailability().active ? "native" : "tfjs");
    const b = await run(5, t);
    expect(b.losses).toEqual(a.losses);
    const c = await compileTest(testRecipe({ steps: 4, neftuneAlpha: 5, ...t }, lora));
    await train(c.plan, { ...quiet, compiled: c.compiled, maxSteps: 2 });
    const rest = await train(c.plan, { ...quiet, compiled: c.compiled, resume: true });
    expect(rest.resumedFrom).not.toBeNull();
    const got = readStepMetrics(rest.metricsFile).map((m) => m.loss);
    expect(got).toHaveLength(4);
    for (const [i, l] of got.entries()) expect(Math.abs(l - a.losses[i]!)).toBeLessThan(1e-6);
  });
});
