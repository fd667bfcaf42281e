import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { Plan } from "../compile/plan-schema.ts";
import { initBackend } from "../model/backend.ts";
import { compileTest, testRecipe } from "./fixtures.testing.ts";
import { train } from "./loop.ts";

// Records the recompute flag of every forward/backward the run makes.
const recomputed: boolean[] = [];
vi.mock("../model/train-step.ts", async (original) => {
  const mod = await original<typeof import("../model/train-step.ts")>();
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

const quiet = { progress: "off", samples: 0, handleSigint: true } as const;

describe("the plan's recompute decision", () => {
  const saved = process.env.SFTKIT_GPU_MEMORY;
  afterEach(() => {
    if (saved === undefined) delete process.env.SFTKIT_GPU_MEMORY;
    else process.env.SFTKIT_GPU_MEMORY = saved;
  });

  it("is the recipe's flag, or on when the GPU plan needs it to fit a row", async () => {
    delete process.env.SFTKIT_GPU_MEMORY;
    const off = await compileTest(testRecipe({ steps: 1 }));
    expect(off.plan.recompute).toEqual({
      layers: false,
      reason: "off: train.gradientCheckpointing is not set",
    });
    const on = await compileTest(testRecipe({ steps: 1, gradientCheckpointing: true }));
    expect(on.plan.recompute).toEqual({ layers: true, reason: "on: train.gradientCheckpointing" });
    process.env.SFTKIT_GPU_MEMORY = "64MB";
    const gpu = await compileTest(testRecipe({ steps: 1, maxLength: 512 }));
    expect(gpu.plan.gpu?.gradientCheckpointing).toBe(true);
    expect(gpu.plan.memory.gradientCheckpointing).toBe(false);
    expect(gpu.plan.recompute).toMatchObject({ layers: true, reason: expect.stringContaining("gpu plan") });
  });

  it("is what the run does, whatever the estimates assumed", async () => {
    delete process.env.SFTKIT_GPU_MEMORY;
    // The spy above sits in the tfjs engine's train step: run that engine (native reads the same decision, decisions.ts).
    const { plan, compiled } = await compileTest(testRecipe({ steps: 2, engine: "tfjs" }));
    const run = async (p: Plan) => {
      recomputed.length = 0;
      await train(p, { ...quiet, compiled, overwrite: true });
      return [...new Set(recomputed)];
    };
    // The decision on, the memory estimate made without it: every step recomputes.
    expect(await run({ ...plan, recompute: { layers: true, reason: "test" } })).toEqual([true]);
    // The decision off, the estimates (memory, a GPU section) made with it: no step recomputes.
    const estimatesOn = {
      ...plan,
      memory: { ...plan.memory, gradientCheckpointing: true },
      gpu: { gradientCheckpointing: true } as Plan["gpu"],
    };
    expect(await run({ ...estimatesOn, recompute: { layers: false, reason: "test" } })).toEqual([false]);
  });
});
