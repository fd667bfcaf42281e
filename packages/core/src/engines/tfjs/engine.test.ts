import { beforeAll, describe, expect, it, vi } from "vitest";
import { initBackend } from "../../model/backend.ts";
import { compileTest, storiesDir, testRecipe } from "../../train/fixtures.testing.ts";
import { createTfjsEngine } from "./engine.ts";

// Records the recompute flag each forward/backward gets.
const recomputed: boolean[] = [];
vi.mock("../../model/train-step.ts", async (original) => {
  const mod = await original<typeof import("../../model/train-step.ts")>();
  return {
    ...mod,
    lossAndGrads: (...args: Parameters<typeof mod.lossAndGrads>) => {
      recomputed.push(args[3]?.recompute ?? false);
      return mod.lossAndGrads(...args);
    },
  };
});

beforeAll(async () => {
  await initBackend();
});

describe("tfjs engine", () => {
  it("recomputes layers when the plan's GPU section turned gradient checkpointing on", async () => {
    // A plan made before plans recorded their recompute decision: the GPU section's choice stands in.
    // (train/recompute-decision.test.ts: a plan with the decision runs exactly it.)
    const { plan: compiled } = await compileTest(testRecipe({ steps: 1 }));
    const { recompute: _decision, ...plan } = compiled;
    expect(plan.memory.gradientCheckpointing).toBe(false);
    for (const gpu of [null, { gradientCheckpointing: true }]) {
      const engine = await createTfjsEngine({ ...plan, gpu } as typeof plan);
      try {
        await engine.load({ plan: { ...plan, gpu } as typeof plan, model: { dir: storiesDir } });
        const ids = Int32Array.from([1, 5, 6, 7]);
        await engine.forwardBackward({ batch: 1, seqLen: 4, ids, labels: ids }, { seed: 0 });
      } finally {
        engine.dispose();
      }
    }
    expect(recomputed).toEqual([false, true]);
  });
});
