// A recipe trained end to end through the train loop on the cuda engine's host backend
// (SFTKIT_ENGINE=cuda, SFTKIT_CUDA_HOST=1), against the tfjs engine: what a GPU run goes through, bar the kernels.
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { stepInMicroBatches } from "../../compile/plan.ts";
import { initBackend } from "../../model/backend.ts";
import { loadModel } from "../../model/llama.ts";
import { epochBatches, microBatchAt } from "../../train/batches.ts";
import { compileTest, testRecipe } from "../../train/fixtures.testing.ts";
import { train } from "../../train/loop.ts";
import { readStepMetrics } from "../../train/metrics.ts";
import { relDiff } from "../native/testing.ts";
import { CudaEngine } from "./engine.ts";
import { cudaEngineAvailability } from "./index.ts";

const original = CudaEngine.prototype.forwardBackward;

const host = cudaEngineAvailability({ SFTKIT_CUDA_HOST: "1" });
const title = "sft run on the cuda engine's host backend";
const quiet = { progress: "off", samples: 1, handleSigint: false } as const;
const saved = { engine: process.env.SFTKIT_ENGINE, host: process.env.SFTKIT_CUDA_HOST };

afterEach(() => {
  for (const [k, v] of [
    ["SFTKIT_ENGINE", saved.engine],
    ["SFTKIT_CUDA_HOST", saved.host],
  ] as const)
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
});

async function run(engine: string, method: Record<string, unknown>) {
  process.env.SFTKIT_ENGINE = engine;
  process.env.SFTKIT_CUDA_HOST = "1";
  const t = { steps: 3, gradientAccumulation: 2, threads: 1 };
  const recipe = testRecipe(t, { method } as never);
  const { plan, compiled } = await compileTest({ ...recipe, output: { ...recipe.output, save: "both" } });
  expect(plan.engine?.chosen).toBe(engine);
  const result = await train(plan, { ...quiet, compiled });
  return { plan, result, metrics: readStepMetrics(result.metricsFile) };
}

describe.skipIf(!host.available)(host.available ? title : `${title} (skipped: ${host.reason})`, () => {
  it("LoRA: losses within bf16 of tfjs, the same artefacts, and a merged model that loads and agrees", async () => {
    const method = { kind: "lora", rank: 4, alpha: 8, dropout: 0, targets: "all-linear" };
    const want = await run("tfjs", method);
    const got = await run("cuda", method);
    expect(got.metrics.map((m) => m.step)).toEqual([1, 2, 3]);
    for (const [i, m] of got.metrics.entries())
      expect(Math.abs(m.loss - want.metrics[i]!.loss) / want.metrics[i]!.loss).toBeLessThan(1e-2);
    const rel = (dir: string) => (f: string) => f.slice(dir.length + 1);
    expect(got.result.artefacts.map(rel(got.plan.output.dir)).sort()).toEqual(
      want.result.artefacts.map(rel(want.plan.output.dir)).sort(),
    );
    expect(Math.abs(got.result.evalLoss! - want.result.evalLoss!) / want.result.evalLoss!).toBeLessThan(1e-2);
    await initBackend();
    const ids = [[1, 403, 261, 370, 100, 20]];
    const a = await loadModel(join(got.plan.output.dir, "model"));
    const b = await loadModel(join(want.plan.output.dir, "model"));
    const la = Float32Array.from((await a.logits(ids)).flat(2));
    const lb = Float32Array.from((await b.logits(ids)).flat(2));
    expect(relDiff(la, lb)).toBeLessThan(2e-2);
    a.dispose();
    b.dispose();
  });

  it("the run's micro-batches are the plan's, sized to the GPU (simulated), and its metrics record the GPU memory", async () => {
    process.env.SFTKIT_ENGINE = "cuda";
    process.env.SFTKIT_CUDA_HOST = "1";
    process.env.SFTKIT_GPU_MEMORY = "800MiB";
    const method = { kind: "lora", rank: 4, alpha: 8, dropout: 0, targets: "all-linear" };
    // The recipe's 4096-token step split into the micro-batches the GPU holds; steps: the whole first epoch.
    const probe = await compileTest(
      testRecipe({ steps: 1, threads: 1, tokensPerMicroBatch: undefined }, { method } as never),
    );
    const { gradientAccumulation, microBatchesPerEpoch } = probe.plan.batching;
    const steps = Math.floor(microBatchesPerEpoch! / gradientAccumulation);
    const recipe = testRecipe({ steps, threads: 1, tokensPerMicroBatch: undefined }, { method } as never);
    const { plan, compiled } = await compileTest(recipe);
    const fit = plan.gpu!.buckets[0]!.tokensPerMicroBatch;
    expect(plan.batching).toMatchObject(
      stepInMicroBatches({ maxLength: plan.data.maxLength, gradientAccumulation: 1 }, fit),
    );
    expect(plan.batching.tokensPerMicroBatch!).toBeLessThanOrEqual(fit);
    // The test recipe's 512 tokens would be a different schedule: the GPU-split step's micro-batches are larger.
    expect(plan.batching.tokensPerMicroBatch!).toBeGreaterThan(512);
    expect(steps).toBeGreaterThan(0);
    const seen: [number, number][] = [];
    const spy = vi.spyOn(CudaEngine.prototype, "forwardBackward").mockImplementation(async function (
      this: CudaEngine,
      batch,
      opts,
    ) {
      seen.push([batch.batch, batch.seqLen]);
      return original.call(this, batch, opts);
    });
    try {
      const result = await train(plan, { ...quiet, compiled });
      const epoch = epochBatches(plan, compiled.data!.prepared!, 0);
      const want = Array.from({ length: seen.length }, (_, i) => {
        const b = microBatchAt(epoch, i, 0).batch;
        return [b.batch, b.seqLen];
      });
      // The epoch's micro-batches of the plan's schedule, in its order, each within the plan's budget.
      expect(seen.length).toBe(steps * gradientAccumulation);
      expect(seen).toEqual(want);
      for (const [b, s] of seen) expect(b * s).toBeLessThanOrEqual(plan.batching.tokensPerMicroBatch!);
      for (const m of readStepMetrics(result.metricsFile)) {
        expect(m.memory?.peakBytes).toBeGreaterThan(0);
        expect(m.memory!.peakBytes).toBeLessThanOrEqual(plan.memory.arena!);
      }
    } finally {
      spy.mockRestore();
      delete process.env.SFTKIT_GPU_MEMORY;
    }
  });

  it("a method it does not implement is passed by with the reason (DoRA with LoRA dropout)", async () => {
    process.env.SFTKIT_CUDA_HOST = "1";
    delete process.env.SFTKIT_ENGINE;
    const recipe = testRecipe({ steps: 1, threads: 1 }, {
      method: { kind: "lora", rank: 4, alpha: 8, dropout: 0.1, targets: "all-linear", dora: true },
    } as never);
    const { plan } = await compileTest(recipe);
    expect(plan.engine?.chosen).not.toBe("cuda");
    expect(plan.engine?.reason).toContain("DoRA with LoRA dropout (method.dora)");
  });
});
