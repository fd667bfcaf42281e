// Numerical guards: a NaN loss or gradient norm (planted through a wrapped engine) stops the run at once,
// names the step, micro-batch and rows, writes no checkpoint or artefact from the bad state.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { Plan } from "../compile/plan-schema.ts";
import { createEngine } from "../engines/create.ts";
import type { Engine } from "../engines/engine.ts";
import { initBackend } from "../model/backend.ts";
import { compileTest, testRecipe } from "./fixtures.testing.ts";
import { NonFiniteError } from "./guards.ts";
import { train } from "./loop.ts";

beforeAll(async () => {
  await initBackend();
});

const quiet = { progress: "off", samples: 0, handleSigint: false } as const;

/** The plan's engine, with the `nth` forward/backward (0-based) or the `nth` step's norm made NaN. */
async function poisoned(plan: Plan, at: { forward?: number; norm?: number }): Promise<Engine> {
  const engine = await createEngine(plan);
  let forwards = 0;
  let steps = 0;
  const fb = engine.forwardBackward.bind(engine);
  const apply = engine.applyStep.bind(engine);
  engine.forwardBackward = async (batch, opts) => {
    const r = await fb(batch, opts);
    return forwards++ === at.forward ? { ...r, lossSum: Number.NaN } : r;
  };
  engine.applyStep = async (opts) => {
    const r = await apply(opts);
    return steps++ === at.norm ? { gradNorm: Number.POSITIVE_INFINITY } : r;
  };
  return engine;
}

function stepsLogged(metricsFile: string): number[] {
  return readFileSync(metricsFile, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { step: number; loss?: number })
    .filter((l) => l.loss !== undefined)
    .map((l) => l.step);
}

describe("numerical guards", () => {
  it("a NaN micro-batch loss stops the run at its step, naming the micro-batch and rows; nothing is saved", async () => {
    const { plan, compiled } = await compileTest(
      testRecipe({ steps: 6, gradientAccumulation: 2, checkpointEvery: 2 }),
    );
    // Forward 5 (0-based) is step 3's second micro-batch: the checkpoint of step 2 is the last good one.
    const engine = await poisoned(plan, { forward: 5 });
    const err = await train(plan, { ...quiet, compiled, engine }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonFiniteError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/^step 3, micro-batch 5 of epoch 0: the loss is NaN; rows: \S*chat\.jsonl:\d+/);
    expect(msg).toContain(join(plan.output.dir, "checkpoints", "step-2"));
    const out = plan.output.dir;
    expect(readdirSync(join(out, "checkpoints"))).toEqual(["step-2"]);
    expect(existsSync(join(out, "adapter"))).toBe(false);
    expect(existsSync(join(out, "model"))).toBe(false);
    expect(stepsLogged(join(out, "metrics.jsonl"))).toEqual([1, 2]);
  });

  it("an infinite gradient norm stops the run the same way", async () => {
    const { plan, compiled } = await compileTest(testRecipe({ steps: 4, checkpointEvery: 1 }));
    const engine = await poisoned(plan, { norm: 1 });
    await expect(train(plan, { ...quiet, compiled, engine })).rejects.toThrow(
      /^step 2, micro-batch \d+ of epoch 0: the gradient norm is Infinity; rows: /,
    );
    expect(readdirSync(join(plan.output.dir, "checkpoints"))).toEqual(["step-1"]);
    expect(existsSync(join(plan.output.dir, "model"))).toBe(false);
  });
});
