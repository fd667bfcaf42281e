// Numerical guards: a NaN loss or gradient norm (planted through a wrapped engine) stops the run at once,
// names the step, micro-batch and rows, writes no checkpoint or artefact from the bad state.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { Plan } from "../compile/plan-schema.ts";
import { createEngine } from "../engines/create.ts";
import type { Engine } from "../engines/engine.ts";
import { initBackend } from "../model/backend.ts";
import { SafetensorsFile } from "../model/safetensors.ts";
import { compileTest, testRecipe } from "./fixtures.testing.ts";
import { NonFiniteError } from "./guards.ts";
import { train } from "./loop.ts";

beforeAll(async () => {
  await initBackend();
});

const quiet = { progress: "off", samples: 0, handleSigint: false } as const;

/** The plan's engine, with the `nth` forward/backward (0-based; also any in `forwards`) or the `nth` step's norm made NaN. */
async function poisoned(
  plan: Plan,
  at: { forward?: number; norm?: number; forwards?: number[] },
): Promise<Engine> {
  const engine = await createEngine(plan);
  let forwards = 0;
  let steps = 0;
  const fb = engine.forwardBackward.bind(engine);
  const apply = engine.applyStep.bind(engine);
  engine.forwardBackward = async (batch, opts) => {
    const r = await fb(batch, opts);
    const n = forwards++;
    return n === at.forward || at.forwards?.includes(n) ? { ...r, lossSum: Number.NaN } : r;
  };
  engine.applyStep = async (opts) => {
    const r = await apply(opts);
    return steps++ === at.norm ? { gradNorm: Number.POSITIVE_INFINITY } : r;
  };
  return engine;
}

/**
 * The plan's engine whose `nth` applyStep calls (0-based) see an infinite gradient norm. As the built-in
 * engines do (engine.ts AppliedStep), it then applies nothing: the gradient sums are cleared through the
 * public interface (an update at learning rate 0, the state before it written back) and `applied: false`
 * says so. `applying: true` plays an engine that applied the update anyway and reports only the norm.
 */
async function infiniteNorm(
  plan: Plan,
  at: number[],
  opts: { applying?: boolean } = {},
): Promise<{ engine: Engine; updates: () => number }> {
  const engine = await createEngine(plan);
  let calls = 0;
  let updates = 0;
  const apply = engine.applyStep.bind(engine);
  engine.applyStep = async (o) => {
    if (!at.includes(calls++)) {
      updates++;
      return apply(o);
    }
    if (opts.applying) {
      updates++;
      await apply(o);
      return { gradNorm: Number.POSITIVE_INFINITY };
    }
    const state = await engine.readState();
    await apply({ learningRate: 0, clipNorm: 0, trainedTokens: 1 });
    await engine.writeState(state);
    return { gradNorm: Number.POSITIVE_INFINITY, applied: false };
  };
  return { engine, updates: () => updates };
}

function stepLines(metricsFile: string): { step: number; loss?: number; skipped?: number }[] {
  return readFileSync(metricsFile, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { step: number; loss?: number; skipped?: number })
    .filter((l) => l.loss !== undefined);
}

function stepsLogged(metricsFile: string): number[] {
  return stepLines(metricsFile).map((l) => l.step);
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

  it("train.skipNonFinite skips that many bad micro-batches, counted in metrics.jsonl and the result", async () => {
    const { plan, compiled } = await compileTest(testRecipe({ steps: 4, skipNonFinite: 2 }));
    expect(plan.nonFinite).toEqual({ skip: 2 });
    // One micro-batch per step: forwards 1 and 3 are dropped, steps 2 and 3 train on the next ones.
    const engine = await poisoned(plan, { forwards: [1, 3] });
    const r = await train(plan, { ...quiet, compiled, engine });
    expect(r.steps).toBe(4);
    expect(r.skipped).toBe(2);
    expect(Number.isFinite(r.loss)).toBe(true);
    const lines = stepLines(r.metricsFile);
    expect(lines.map((l) => [l.step, l.skipped])).toEqual([
      [1, undefined],
      [2, 1],
      [3, 1],
      [4, undefined],
    ]);
    expect(lines.every((l) => Number.isFinite(l.loss))).toBe(true);
    expect(existsSync(join(plan.output.dir, "model"))).toBe(true);
  });

  it("one bad micro-batch more than train.skipNonFinite allows stops the run; nothing is saved", async () => {
    const { plan, compiled } = await compileTest(testRecipe({ steps: 4, skipNonFinite: 1 }));
    const engine = await poisoned(plan, { forwards: [1, 3] });
    const err = await train(plan, { ...quiet, compiled, engine }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonFiniteError);
    expect((err as Error).message).toMatch(
      /^step 3, micro-batch \d+ of epoch 0: the loss is NaN, and train\.skipNonFinite \(1\) is used up; rows: /,
    );
    expect(existsSync(join(plan.output.dir, "model"))).toBe(false);
    expect(existsSync(join(plan.output.dir, "adapter"))).toBe(false);
    expect(stepLines(join(plan.output.dir, "metrics.jsonl")).map((l) => [l.step, l.skipped])).toEqual([
      [1, undefined],
      [2, 1],
    ]);
  });

  it("a resume counts the skips metrics.jsonl already holds against train.skipNonFinite", async () => {
    const { plan, compiled } = await compileTest(
      testRecipe({ steps: 4, skipNonFinite: 1, checkpointEvery: 1 }),
    );
    const first = await poisoned(plan, { forwards: [1] });
    await train(plan, { ...quiet, compiled, engine: first, maxSteps: 2 });
    // The resumed run's first forward is step 3's: bad again, and the one skip allowed is spent.
    const again = await poisoned(plan, { forwards: [0] });
    await expect(train(plan, { ...quiet, compiled, engine: again, resume: true })).rejects.toThrow(
      /^step 3, .*train\.skipNonFinite \(1\) is used up/,
    );
  });

  it("train.skipNonFinite skips a step whose gradient norm is not finite: not applied, counted in metrics.jsonl", async () => {
    const { plan, compiled } = await compileTest(
      testRecipe({ steps: 4, skipNonFinite: 2, checkpointEvery: 1 }),
    );
    // One micro-batch per step: the second update (step 2's) is refused, step 2 trains on the next micro-batch.
    const { engine, updates } = await infiniteNorm(plan, [1]);
    const r = await train(plan, { ...quiet, compiled, engine });
    expect(r.steps).toBe(4);
    expect(r.skipped).toBe(1);
    expect(updates()).toBe(4);
    const lines = stepLines(r.metricsFile);
    expect(lines.map((l) => [l.step, l.skipped])).toEqual([
      [1, undefined],
      [2, 1],
      [3, undefined],
      [4, undefined],
    ]);
    expect(lines.every((l) => Number.isFinite(l.loss))).toBe(true);
    // The optimizer counted only the updates applied.
    const optimizer = await SafetensorsFile.open(
      join(plan.output.dir, "checkpoints", "step-4", "optimizer.safetensors"),
    );
    expect(optimizer.metadata.step).toBe("4");
    await optimizer.close();
    expect(existsSync(join(plan.output.dir, "model"))).toBe(true);
  });

  it("a non-finite gradient norm past train.skipNonFinite stops the run, naming the step, micro-batch and rows", async () => {
    const { plan, compiled } = await compileTest(
      testRecipe({ steps: 4, skipNonFinite: 1, checkpointEvery: 1 }),
    );
    const { engine } = await infiniteNorm(plan, [1, 2]);
    const err = await train(plan, { ...quiet, compiled, engine }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonFiniteError);
    expect((err as Error).message).toMatch(
      /^step 2, micro-batch \d+ of epoch 0: the gradient norm is Infinity, and train\.skipNonFinite \(1\) is used up; rows: \S*chat\.jsonl:\d+.*The last good checkpoint is \S+step-1/,
    );
    expect(existsSync(join(plan.output.dir, "model"))).toBe(false);
    expect(stepLines(join(plan.output.dir, "metrics.jsonl")).map((l) => [l.step, l.skipped])).toEqual([
      [1, undefined],
    ]);
  });

  it("an engine that applied a non-finite-norm update is stopped even with train.skipNonFinite, saying why", async () => {
    const { plan, compiled } = await compileTest(testRecipe({ steps: 4, skipNonFinite: 2 }));
    const { engine } = await infiniteNorm(plan, [1], { applying: true });
    await expect(train(plan, { ...quiet, compiled, engine })).rejects.toThrow(
      /^step 2, micro-batch \d+ of epoch 0: the gradient norm is Infinity, and the engine applied that update, so train\.skipNonFinite cannot skip it; rows: /,
    );
    expect(existsSync(join(plan.output.dir, "model"))).toBe(false);
  });

  it("an update that leaves non-finite weights stops at that step's checkpoint, naming the tensor; nothing is saved", async () => {
    // Unclipped, a learning rate of 1e38 takes the weights past float32 in the first update.
    const { plan, compiled } = await compileTest(
      testRecipe({ steps: 3, learningRate: 1e38, clipNorm: 0, checkpointEvery: 1 }),
    );
    const err = await train(plan, { ...quiet, compiled }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonFiniteError);
    expect((err as Error).message).toMatch(
      /^step 1: the update left tensor "[^"]+" holding (NaN|-?Infinity) at index \d+\. Stopped: nothing was saved from this state\. No checkpoint was written before it/,
    );
    expect((err as Error).message).not.toMatch(/\.tmp-/);
    const out = plan.output.dir;
    expect(readdirSync(join(out, "checkpoints"))).toEqual([]);
    expect(existsSync(join(out, "model"))).toBe(false);
  });
});
