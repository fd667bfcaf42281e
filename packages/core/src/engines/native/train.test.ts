// A recipe trained end to end on the native engine (chosen by $SFTKIT_ENGINE), against the tfjs engine.
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { initBackend } from "../../model/backend.ts";
import { loadModel } from "../../model/llama.ts";
import { compileTest, testRecipe } from "../../train/fixtures.testing.ts";
import { train } from "../../train/loop.ts";
import { readStepMetrics } from "../../train/metrics.ts";
import { nativeSkip, relDiff } from "./testing.ts";

const suite = nativeSkip("sft run on the native engine");
const quiet = { progress: "off", samples: 1, handleSigint: false } as const;
const saved = process.env.SFTKIT_ENGINE;

afterEach(() => {
  if (saved === undefined) delete process.env.SFTKIT_ENGINE;
  else process.env.SFTKIT_ENGINE = saved;
});

async function run(
  engine: string,
  extra: Record<string, unknown> = {},
  trainOver: Record<string, unknown> = {},
) {
  process.env.SFTKIT_ENGINE = engine;
  const method = { kind: "lora", rank: 4, alpha: 8, dropout: 0.05, targets: "all-linear", ...extra };
  const t = { steps: 3, gradientAccumulation: 2, threads: 1, ...trainOver };
  const recipe = testRecipe(t, { method } as never);
  const { plan, compiled } = await compileTest({ ...recipe, output: { ...recipe.output, save: "both" } });
  expect(plan.engine?.chosen).toBe(engine);
  const result = await train(plan, { ...quiet, compiled });
  return { plan, result, metrics: readStepMetrics(result.metricsFile) };
}

describe.skipIf(suite.skip)(suite.title, () => {
  it("trains a LoRA recipe with SFTKIT_ENGINE=native: same losses as tfjs, adapter and merged model written and loadable", async () => {
    const want = await run("tfjs");
    const got = await run("native");
    expect(got.metrics.map((m) => m.step)).toEqual([1, 2, 3]);
    for (const [i, m] of got.metrics.entries()) {
      expect(Math.abs(m.loss - want.metrics[i]!.loss) / want.metrics[i]!.loss).toBeLessThan(1e-4);
      expect(Math.abs(m.gradNorm - want.metrics[i]!.gradNorm) / want.metrics[i]!.gradNorm).toBeLessThan(1e-3);
    }
    const rel = (f: string) => f.slice(got.plan.output.dir.length + 1);
    expect(got.result.artefacts.map(rel).sort()).toEqual(
      want.result.artefacts.map((f) => f.slice(want.plan.output.dir.length + 1)).sort(),
    );
    expect(got.result.evalLoss).toBeCloseTo(want.result.evalLoss!, 4);
    await initBackend();
    const ids = [[1, 403, 261, 370, 100, 20]];
    const [a, b] = [
      await loadModel(join(got.plan.output.dir, "model")),
      await loadModel(join(want.plan.output.dir, "model")),
    ];
    const la = Float32Array.from((await a.logits(ids)).flat(2));
    const lb = Float32Array.from((await b.logits(ids)).flat(2));
    expect(relDiff(la, lb)).toBeLessThan(1e-4);
    a.dispose();
    b.dispose();
  });

  it("LoRA+ (loraPlusRatio): the same losses as tfjs, which differ from plain LoRA's", async () => {
    const want = await run("tfjs", { loraPlusRatio: 16 });
    const got = await run("native", { loraPlusRatio: 16 });
    for (const [i, m] of got.metrics.entries())
      expect(Math.abs(m.loss - want.metrics[i]!.loss) / want.metrics[i]!.loss).toBeLessThan(1e-4);
    const plain = await run("native");
    expect(Math.abs(plain.metrics[2]!.loss - got.metrics[2]!.loss)).toBeGreaterThan(1e-4);
  });

  it("DoRA with modules to save and NEFTune: the same losses as tfjs, and merged models with the same logits", async () => {
    const extra = { dora: true, modulesToSave: ["norms", "lm_head"] };
    const want = await run("tfjs", extra, { neftuneAlpha: 5 });
    const got = await run("native", extra, { neftuneAlpha: 5 });
    for (const [i, m] of got.metrics.entries()) {
      expect(Math.abs(m.loss - want.metrics[i]!.loss) / want.metrics[i]!.loss).toBeLessThan(1e-4);
      expect(Math.abs(m.gradNorm - want.metrics[i]!.gradNorm) / want.metrics[i]!.gradNorm).toBeLessThan(1e-3);
    }
    const rel = (r: typeof got) =>
      r.result.artefacts.map((f) => f.slice(r.plan.output.dir.length + 1)).sort();
    expect(rel(got)).toEqual(rel(want));
    await initBackend();
    const ids = [[1, 403, 261, 370, 100, 20]];
    const [a, b] = [
      await loadModel(join(got.plan.output.dir, "model")),
      await loadModel(join(want.plan.output.dir, "model")),
    ];
    const la = Float32Array.from((await a.logits(ids)).flat(2));
    const lb = Float32Array.from((await b.logits(ids)).flat(2));
    expect(relDiff(la, lb)).toBeLessThan(1e-4);
    a.dispose();
    b.dispose();
  });
});
