import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { compile, compileRecipe } from "../compile/compile.ts";
import { initBackend, wasmHeapBytes } from "../model/backend.ts";
import type { RecipeInput } from "../recipe/schema/recipe.ts";
import { latestCheckpoint } from "./checkpoint.ts";
import { compileTest, testRecipe } from "./fixtures.testing.ts";
import { train } from "./loop.ts";
import { readStepMetrics } from "./metrics.ts";

beforeAll(async () => {
  await initBackend();
});

const quiet = { progress: "off", samples: 0, handleSigint: true } as const;

describe("train", () => {
  it("lowers the eval loss and writes metrics, a checkpoint and the method's artefacts", async () => {
    const { plan, compiled } = await compileTest(testRecipe({ steps: 8 }));
    const r = await train(plan, { ...quiet, compiled, samples: 1 });
    expect(r.steps).toBe(8);
    expect(r.interrupted).toBe(false);
    expect(r.initialEvalLoss).not.toBeNull();
    expect(r.evalLoss!).toBeLessThan(r.initialEvalLoss! - 0.5);
    expect(r.tokensPerSecond).toBeGreaterThan(0);
    expect(r.peakRssBytes).toBeGreaterThan(0);
    // On wasm the engine's own figure is the heap, what the plan's wasm estimate is about.
    // (native, where it built, keeps no peak: its memory is the process's.)
    if (plan.engine?.chosen === "tfjs" && tf.getBackend() === "wasm")
      expect(r.enginePeakBytes).toBe(wasmHeapBytes());
    else expect(r.enginePeakBytes).toBeUndefined();
    const lines = readFileSync(r.metricsFile, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const steps = lines.filter((l) => "loss" in l);
    expect(steps.map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const s of steps)
      expect(Object.keys(s).sort()).toEqual(
        ["epoch", "gradNorm", "loss", "lr", "seconds", "step", "tokens", "trainedTokens"].sort(),
      );
    expect(lines.filter((l) => "evalLoss" in l).map((l) => l.step)).toEqual([0, 8]);
    expect(lines.some((l) => "sample" in l)).toBe(true);
    expect(r.samples).toHaveLength(1);
    expect(r.checkpoint).toBe(join(plan.output.dir, "checkpoints", "step-8"));
    expect(readdirSync(r.checkpoint!).sort()).toEqual([
      "checksums.json",
      "optimizer.safetensors",
      "state.json",
      "trainable.safetensors",
    ]);
    expect(r.artefacts.every((f) => existsSync(f))).toBe(true);
    expect(JSON.parse(readFileSync(join(plan.output.dir, "plan.json"), "utf8"))).toEqual(
      JSON.parse(JSON.stringify(plan)),
    );
  });

  it("trains with packed rows and with fixed-size micro-batches, as the plan batches them", async () => {
    for (const t of [{ packing: true }, { microBatchSize: 4, tokensPerMicroBatch: undefined }]) {
      const { plan, compiled } = await compileTest(testRecipe({ steps: 2, ...t }));
      const r = await train(plan, { ...quiet, compiled });
      const steps = readStepMetrics(r.metricsFile);
      expect(steps).toHaveLength(2);
      for (const m of steps) expect(m.trainedTokens).toBeGreaterThan(0);
      expect(plan.batching.mode).toBe(t.packing ? "packed" : "fixed");
    }
  });

  it("measures knowledge-probe recall at each evaluation when the recipe has probes", async () => {
    const { plan, compiled } = await compileTest(
      testRecipe({ steps: 1 }, { probes: { count: 4, rate: 0.2 } } as Partial<RecipeInput>),
    );
    const r = await train(plan, { ...quiet, compiled });
    expect(r.probeRecall).toBeGreaterThanOrEqual(0);
    const evals = readFileSync(r.metricsFile, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { evalLoss?: number; probeRecall?: number })
      .filter((l) => l.evalLoss !== undefined);
    expect(evals).toHaveLength(2);
    for (const e of evals) expect(typeof e.probeRecall).toBe("number");
  });

  it("keeps no tensors between steps and leaves none behind", async () => {
    const { plan, compiled } = await compileTest(testRecipe({ steps: 4, gradientAccumulation: 2 }));
    const before = tf.memory().numTensors;
    const counts: number[] = [];
    // Evaluations and sample generations at the start and end included.
    await train(plan, { ...quiet, samples: 2, compiled, onStep: () => counts.push(tf.memory().numTensors) });
    expect(new Set(counts).size).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("resumes to exactly the loss curve of an uninterrupted run", async () => {
    const train1 = { steps: 8, gradientAccumulation: 2, checkpointEvery: 2 };
    const a = await compileTest(testRecipe(train1));
    const full = await train(a.plan, { ...quiet, compiled: a.compiled });
    const b = await compileTest(testRecipe(train1));
    const first = await train(b.plan, { ...quiet, compiled: b.compiled, maxSteps: 3 });
    expect(first.steps).toBe(3);
    expect(first.checkpoint).toBe(join(b.plan.output.dir, "checkpoints", "step-3"));
    const rest = await train(b.plan, { ...quiet, compiled: b.compiled, resume: true });
    expect(rest.resumedFrom).toBe(first.checkpoint);
    expect(rest.steps).toBe(8);
    const want = readStepMetrics(full.metricsFile);
    const got = readStepMetrics(rest.metricsFile);
    expect(got.map((m) => m.step)).toEqual(want.map((m) => m.step));
    got.forEach((m, i) => {
      expect(Math.abs(m.loss - want[i]!.loss)).toBeLessThan(1e-6);
      expect(m.lr).toBe(want[i]!.lr);
      expect(m.tokens).toBe(want[i]!.tokens);
    });
    expect(Math.abs(rest.evalLoss! - full.evalLoss!)).toBeLessThan(1e-6);
  });

  it("resumes exactly with LoRA dropout and trained new-token rows (seeded per step and micro-batch)", async () => {
    const lora: Partial<RecipeInput> = {
      tokens: { add: ["<|q|>"] },
      method: { kind: "lora", rank: 4, alpha: 8, dropout: 0.1, targets: "all-linear", trainNewTokens: true },
    };
    const t = { steps: 4, checkpointEvery: 2, gradientAccumulation: 2 };
    const a = await compileTest(testRecipe(t, lora));
    expect(a.plan.model.vocab.added).toBe(1);
    const full = await train(a.plan, { ...quiet, compiled: a.compiled });
    const b = await compileTest(testRecipe(t, lora));
    await train(b.plan, { ...quiet, compiled: b.compiled, maxSteps: 2 });
    const rest = await train(b.plan, { ...quiet, compiled: b.compiled, resume: true });
    const want = readStepMetrics(full.metricsFile);
    const got = readStepMetrics(rest.metricsFile);
    expect(got).toHaveLength(4);
    for (const [i, m] of got.entries()) expect(Math.abs(m.loss - want[i]!.loss)).toBeLessThan(1e-6);
    expect(rest.artefacts.some((f) => f.endsWith("adapter_model.safetensors"))).toBe(true);
  });

  it("Ctrl-C checkpoints after the current step and returns; resume finishes the run", async () => {
    const { plan, compiled } = await compileTest(testRecipe({ steps: 5 }));
    const r = await train(plan, {
      ...quiet,
      compiled,
      onStep: (m) => {
        if (m.step === 2) process.emit("SIGINT");
      },
    });
    expect(r.interrupted).toBe(true);
    expect(r.steps).toBe(2);
    expect(r.artefacts).toEqual([]);
    expect(await latestCheckpoint(plan.output.dir)).toBe(join(plan.output.dir, "checkpoints", "step-2"));
    expect(process.listenerCount("SIGINT")).toBe(0);
    const done = await train(plan, { ...quiet, compiled, resume: true });
    expect(done.steps).toBe(5);
    expect(done.interrupted).toBe(false);
    // The finished run's curves and report sit beside metrics.jsonl.
    expect(done.artefacts).toContain(join(plan.output.dir, "report.html"));
    expect(existsSync(join(plan.output.dir, "plots", "loss.svg"))).toBe(true);
  });

  it("an AbortSignal stops it the same way", async () => {
    const { plan, compiled } = await compileTest(testRecipe({ steps: 5 }));
    const ac = new AbortController();
    const r = await train(plan, { ...quiet, compiled, signal: ac.signal, onStep: () => ac.abort() });
    expect(r).toMatchObject({ interrupted: true, steps: 1 });
    expect(existsSync(join(plan.output.dir, "checkpoints", "step-1", "state.json"))).toBe(true);
  });

  it("runs what the plan says, not what its recipe file says now (the recipe is not read again)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sft-recipe-"));
    const file = join(dir, "recipe.ts");
    writeFileSync(join(dir, "package.json"), '{ "type": "module" }\n');
    writeFileSync(file, `export default ${JSON.stringify(testRecipe({ steps: 2 }))};\n`);
    const c = await compileRecipe(file, { write: false });
    expect(c.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const plan = c.plan!;
    expect(plan.recipe.file).toBe(file);
    writeFileSync(file, `export default ${JSON.stringify(testRecipe({ steps: 5 }))};\n`);
    expect((await train(plan, quiet)).steps).toBe(2);
  });

  it("a plan compiled from an object (a notebook) trains from the plan and its data cache", async () => {
    const plan = await compile(testRecipe({ steps: 1 }));
    expect(plan.recipe.file).toBeNull();
    expect((await train(plan, quiet)).steps).toBe(1);
  });

  it("resume ignores leftover temp folders and incomplete checkpoints", async () => {
    const { plan, compiled } = await compileTest(testRecipe({ steps: 4 }));
    await train(plan, { ...quiet, compiled, maxSteps: 2 });
    const root = join(plan.output.dir, "checkpoints");
    mkdirSync(join(root, ".tmp-step-3-999"));
    writeFileSync(join(root, ".tmp-step-3-999", "trainable.safetensors"), "half");
    mkdirSync(join(root, "step-3"));
    writeFileSync(join(root, "step-3", "trainable.safetensors"), "half");
    expect(await latestCheckpoint(plan.output.dir)).toBe(join(root, "step-2"));
    const r = await train(plan, { ...quiet, compiled, resume: true });
    expect(r.resumedFrom).toBe(join(root, "step-2"));
    expect(r.steps).toBe(4);
  });
});
