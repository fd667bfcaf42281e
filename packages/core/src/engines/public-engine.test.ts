// A second engine registered through the public API only: a recording wrapper around the tfjs engine.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Engine, engineDefinition, registerEngine, train, unregisterEngine } from "../index.ts";
import { compileTest, testRecipe } from "../train/fixtures.testing.ts";
import { readStepMetrics } from "../train/metrics.ts";

const calls: string[] = [];
let created = 0;

function recording(inner: Engine): Engine {
  const log = <T>(name: string, v: T): T => {
    calls.push(name);
    return v;
  };
  return {
    name: "recording",
    describe: () => `recording over ${inner.describe()}`,
    load: (spec) => log("load", inner.load(spec)),
    forwardBackward: (batch, opts) => log("forwardBackward", inner.forwardBackward(batch, opts)),
    applyStep: (opts) => log("applyStep", inner.applyStep(opts)),
    evalLoss: (batch) => log("evalLoss", inner.evalLoss(batch)),
    generate: (ids, opts) => log("generate", inner.generate(ids, opts)),
    readState: () => log("readState", inner.readState()),
    writeState: (s) => log("writeState", inner.writeState(s)),
    saveArtefacts: (opts) => log("saveArtefacts", inner.saveArtefacts(opts)),
    memory: () => log("memory", inner.memory()),
    dispose: () => log("dispose", inner.dispose()),
  };
}

beforeAll(() => {
  registerEngine({
    name: "recording",
    description: "records every call, computes with tfjs",
    availability: () => ({ available: true, reason: "a test wrapper" }),
    create: async (plan) => {
      created++;
      return recording(await engineDefinition("tfjs")!.create(plan));
    },
  });
});

afterAll(() => {
  unregisterEngine("recording");
});

const quiet = { progress: "off", samples: 1, handleSigint: false } as const;
const count = (name: string) => calls.filter((c) => c === name).length;

describe("a second engine", () => {
  it("trains, evaluates, checkpoints and resumes exactly through the public Engine interface", async () => {
    // One wasm thread, as the other tests (the machine is shared).
    const t = { steps: 4, gradientAccumulation: 2, checkpointEvery: 2, engine: "recording", threads: 1 };
    const a = await compileTest(testRecipe(t));
    expect(a.plan.engine).toMatchObject({
      requested: "recording",
      chosen: "recording",
      reason: "set by the recipe",
    });
    const full = await train(a.plan, { ...quiet, compiled: a.compiled });
    expect(created).toBe(1);
    // 4 steps of 2 micro-batches, the initial and final evaluations, the last checkpoint, the artefacts.
    expect(count("load")).toBe(1);
    expect(count("forwardBackward")).toBe(8);
    expect(count("applyStep")).toBe(4);
    expect(count("evalLoss")).toBeGreaterThan(0);
    expect(count("generate")).toBeGreaterThan(0);
    expect(count("readState")).toBe(2);
    expect(count("saveArtefacts")).toBe(1);
    expect(count("dispose")).toBe(1);
    expect(full.artefacts.length).toBeGreaterThan(0);

    const b = await compileTest(testRecipe(t));
    calls.length = 0;
    const first = await train(b.plan, { ...quiet, compiled: b.compiled, maxSteps: 3 });
    expect(first.steps).toBe(3);
    const rest = await train(b.plan, { ...quiet, compiled: b.compiled, resume: true });
    expect(created).toBe(3);
    expect(count("writeState")).toBe(1);
    expect(rest.resumedFrom).toBe(first.checkpoint);
    const want = readStepMetrics(full.metricsFile);
    const got = readStepMetrics(rest.metricsFile);
    expect(got.map((m) => m.step)).toEqual(want.map((m) => m.step));
    got.forEach((m, i) => {
      expect(m.loss).toBe(want[i]!.loss);
      expect(m.gradNorm).toBe(want[i]!.gradNorm);
    });
    expect(rest.evalLoss).toBe(full.evalLoss);
  });
});
