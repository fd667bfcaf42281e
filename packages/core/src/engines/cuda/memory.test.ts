// The cuda engine's memory model against what its allocator tallies: one step of a small Qwen2-shaped
// model on the host backend (the same buffers model.ts allocates on the GPU, counted by HostOps), and
// the plan's memory section when the cuda engine is chosen.
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { estimateMemory } from "../../compile/memory.ts";
import { planParameters } from "../../compile/params.ts";
import type { Plan } from "../../compile/plan-schema.ts";
import { type Method, MethodSchema } from "../../methods/registry.ts";
import { newToken } from "../../methods/testing.ts";
import { initBackend } from "../../model/backend.ts";
import type { ModelConfig } from "../../model/config.ts";
import { epochBatches, microBatchCount } from "../../train/batches.ts";
import { compileTest, testRecipe } from "../../train/fixtures.testing.ts";
import { enginePlan, packedBatch, smallConfig } from "../native/testing.ts";
import { createCudaEngine } from "./engine.ts";
import { cudaEngineAvailability } from "./index.ts";
import { CUDA_RUNTIME_BYTES, cudaDevice, cudaMemoryModel, DEFAULT_GPU_BYTES } from "./memory.ts";

const host = cudaEngineAvailability({ SFTKIT_CUDA_HOST: "1" });
const title = (t: string) => (host.available ? t : `${t} (skipped: ${host.reason})`);
const saved = {
  engine: process.env.SFTKIT_ENGINE,
  host: process.env.SFTKIT_CUDA_HOST,
  gpu: process.env.SFTKIT_GPU_MEMORY,
};

afterEach(() => {
  for (const [k, v] of [
    ["SFTKIT_ENGINE", saved.engine],
    ["SFTKIT_CUDA_HOST", saved.host],
    ["SFTKIT_GPU_MEMORY", saved.gpu],
  ] as const)
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
});

/** Wide enough that activations, not the tiny weights, decide the peak; vocab 300, 2 x 24 tokens. */
const cfg: ModelConfig = smallConfig({ hiddenSize: 64, intermediateSize: 160, headDim: 16 });
const LORA = { kind: "lora", rank: 4, alpha: 8, dropout: 0, targets: "all-linear" };
const METHODS: Record<string, unknown> = {
  lora: LORA,
  full: { kind: "full" },
  qlora: { ...LORA, kind: "qlora", alpha: 16 },
  "lora with dropout": { ...LORA, dropout: 0.1 },
  "lora with modules to save": { ...LORA, modulesToSave: ["embed_tokens", "lm_head", "norms"] },
  dora: { ...LORA, dora: true },
  "qlora with dora": { ...LORA, kind: "qlora", alpha: 16, dora: true },
};

/** What the allocator tallies: everything the plan counts but the CUDA context and allocator slack. */
function estimated(method: Method, recompute: boolean, added = 0) {
  const batch = packedBatch(1, cfg.vocabSize);
  const vocab = cfg.vocabSize + added;
  const m = estimateMemory({
    cfg,
    vocab,
    groups: planParameters(cfg, vocab, added, method, cudaMemoryModel.frozenStorage).groups,
    method,
    tokensPerMicroBatch: batch.batch * batch.seqLen,
    sequenceLength: batch.seqLen,
    gradientCheckpointing: recompute,
    device: cudaDevice(null),
    engine: cudaMemoryModel,
    threads: 1,
  });
  return { memory: m, tallied: m.peak - m.runtime! - m.workspace };
}

async function measured(
  method: unknown,
  recompute: boolean,
  added: Plan["tokenizer"]["added"] = [],
): Promise<number> {
  const plan = enginePlan(cfg, method, { recompute, added });
  const engine = await createCudaEngine(plan, "host");
  await engine.load({ plan, model: { config: cfg, seed: 5 } });
  const r = await engine.forwardBackward(packedBatch(1, cfg.vocabSize), { seed: 0 });
  await engine.applyStep({ learningRate: 1e-3, clipNorm: 1, trainedTokens: r.trainedTokens });
  const peak = engine.memory().peakBytes;
  engine.dispose();
  if (peak === undefined) throw new Error("the cuda engine reports no peak");
  return peak;
}

describe.skipIf(!host.available)(title("the cuda engine's memory model"), () => {
  beforeAll(async () => {
    await initBackend();
  });

  for (const [name, method] of Object.entries(METHODS))
    for (const recompute of [false, true])
      it(`${name}${recompute ? " with recomputation" : ""}: the estimate is within 10% of the host allocator's peak`, async () => {
        const { tallied } = estimated(MethodSchema.parse(method), recompute);
        const peak = await measured(method, recompute);
        expect(tallied / peak).toBeGreaterThan(0.9);
        expect(tallied / peak).toBeLessThan(1.1);
      });

  it("LoRA training the rows of added tokens: the estimate is within 10% of the host allocator's peak", async () => {
    const added = Array.from({ length: 24 }, (_, i) => newToken(`<t${i}>`, cfg.vocabSize + i));
    const { tallied } = estimated(MethodSchema.parse(LORA), false, added.length);
    const peak = await measured(LORA, false, added);
    expect(tallied / peak).toBeGreaterThan(0.9);
    expect(tallied / peak).toBeLessThan(1.1);
  });

  it("QLoRA's linears are NF4 and the rest bf16/f32; a CUDA context and allocator slack on top", () => {
    const { memory } = estimated(MethodSchema.parse(METHODS.qlora), false);
    expect(Object.keys(memory.weights).sort()).toEqual(["bfloat16", "float32", "nf4"]);
    expect(memory.runtime).toBe(CUDA_RUNTIME_BYTES);
    expect(memory.workspace).toBeGreaterThan(0);
    const full = estimated(MethodSchema.parse(METHODS.full), false).memory;
    expect(Object.keys(full.weights).sort()).toEqual(["float32"]);
  });

  it("sft plan with the cuda engine chosen shows the GPU's figures, not the CPU's", async () => {
    process.env.SFTKIT_ENGINE = "cuda";
    process.env.SFTKIT_CUDA_HOST = "1";
    const recipe = testRecipe({ steps: 1, threads: 1 }, { method: LORA } as never);
    const { plan } = await compileTest(recipe);
    expect(plan.engine?.chosen).toBe("cuda");
    expect(plan.memory.device.backend).toBe("cuda");
    expect(plan.memory.device.bytes).toBe(cudaDevice().bytes);
    expect(plan.memory.runtime).toBe(CUDA_RUNTIME_BYTES);
    // Frozen matrices bf16 (a float32 checkpoint is converted at load), not the tfjs model's f32.
    expect(plan.memory.weights.bfloat16).toBeGreaterThan(0);
    // The arena the run reserves: all but the CUDA context.
    expect(plan.memory.arena).toBe(plan.memory.peak - CUDA_RUNTIME_BYTES);
  });

  it("sft plan splits the recipe's step into micro-batches the GPU holds (its memory model); the step stays the recipe's", async () => {
    process.env.SFTKIT_ENGINE = "cuda";
    process.env.SFTKIT_CUDA_HOST = "1";
    process.env.SFTKIT_GPU_MEMORY = "800MiB";
    const open = (t: Record<string, unknown>) =>
      compileTest(
        testRecipe({ steps: 2, threads: 1, tokensPerMicroBatch: undefined, ...t }, { method: LORA } as never),
      );
    const { plan, compiled } = await open({});
    const gpu = plan.gpu!;
    expect(gpu.device).toEqual({ name: "simulated 800MiB", bytes: 800 * 1024 ** 2, simulated: true });
    expect(plan.memory.device.bytes).toBe(800 * 1024 ** 2);
    const rows = gpu.buckets[0]!.rows;
    const fit = gpu.buckets[0]!.tokensPerMicroBatch;
    expect(rows).toBeGreaterThan(4);
    expect(rows).toBeLessThan(256);
    expect(fit).toBe(rows * plan.data.maxLength);
    // The recipe's step (the default 4096 tokens, accumulation 1) in as few micro-batches as the GPU holds.
    const step = 4096;
    const b = plan.batching;
    expect(b.tokensPerMicroBatch!).toBeLessThanOrEqual(fit);
    expect(b.tokensPerMicroBatch! * b.gradientAccumulation).toBeGreaterThanOrEqual(step);
    expect(b.tokensPerMicroBatch! * (b.gradientAccumulation - 1)).toBeLessThan(step);
    expect(b.gradientAccumulation).toBe(Math.ceil(step / fit));
    expect(gpu.note).toContain(
      `the recipe's step of ${b.tokensPerMicroBatch! * b.gradientAccumulation} tokens is kept`,
    );
    // The memory estimate is made for that micro-batch: it fits; the recipe's own, a row more, would not.
    expect(plan.memory.peak).toBeLessThanOrEqual(gpu.usableBytes);
    const more = (await open({ tokensPerMicroBatch: (rows + 1) * plan.data.maxLength })).plan;
    expect(more.memory.peak).toBeGreaterThan(gpu.usableBytes);
    expect(more.batching.tokensPerMicroBatch).toBe((rows + 1) * plan.data.maxLength);
    expect(more.gpu?.note).toContain("the recipe's micro-batch is kept");
    // A larger step (accumulation 64) is split into as many micro-batches as hold it.
    const big = (await open({ gradientAccumulation: 64 })).plan.batching;
    expect(big.gradientAccumulation).toBe(Math.ceil((64 * step) / fit));
    expect(big.tokensPerMicroBatch!).toBeLessThanOrEqual(fit);
    expect(big.tokensPerMicroBatch! * big.gradientAccumulation).toBeGreaterThanOrEqual(64 * step);
    // The plan's schedule numbers are those of the micro-batches the run will make at that budget.
    const epoch = epochBatches(plan, compiled.data!.prepared!, 0);
    expect(plan.batching.microBatchesPerEpoch).toBe(microBatchCount(epoch));
    expect(plan.optimizer.stepsPerEpoch).toBe(
      Math.ceil(microBatchCount(epoch) / plan.batching.gradientAccumulation),
    );
    // Where the GPU holds the whole step, the plan is the CPU's: the GPU never changes what a step learns from.
    process.env.SFTKIT_GPU_MEMORY = "80GiB";
    const roomy = (await open({})).plan;
    expect(roomy.batching).toMatchObject({ tokensPerMicroBatch: step, gradientAccumulation: 1 });
    process.env.SFTKIT_ENGINE = "tfjs";
    const cpu = (await open({})).plan;
    expect(roomy.batching.microBatchesPerEpoch).toBe(cpu.batching.microBatchesPerEpoch);
    expect(roomy.optimizer.stepsPerEpoch).toBe(cpu.optimizer.stepsPerEpoch);
  });
});

describe("the cuda engine's device figure", () => {
  it("is the probed GPU's memory, or a stated 80 GiB default without one", () => {
    const h200 = cudaDevice({ name: "NVIDIA H200", bytes: 150_000_000_000 });
    expect(h200).toMatchObject({ backend: "cuda", bytes: 150_000_000_000 });
    expect(h200.note).toContain("NVIDIA H200");
    const none = cudaDevice(null);
    expect(none.bytes).toBe(DEFAULT_GPU_BYTES);
    expect(none.note).toContain("no GPU seen");
  });
});
