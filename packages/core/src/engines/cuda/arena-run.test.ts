// The run's one arena on the device backend's TypeScript over a fake of device.cc (its sub-allocator is
// the host add-on's build of arena.h): the plan's bytes reserved at load, every buffer of the step placed
// in them and the step equal to the host backend's, a plan that does not fit refused at load with both
// figures, a micro-batch larger than the plan's refused, the arena released with the engine.
import type { CudaHostAddon } from "@sftkit/cuda";
import { beforeAll, describe, expect, it } from "vitest";
import { estimateMemory } from "../../compile/memory.ts";
import { planParameters } from "../../compile/params.ts";
import type { Plan } from "../../compile/plan-schema.ts";
import { MethodSchema } from "../../methods/registry.ts";
import { initBackend } from "../../model/backend.ts";
import { enginePlan, packedBatch } from "../native/testing.ts";
import { planArenaBytes } from "./arena.ts";
import { DeviceOps } from "./device-ops.ts";
import { CudaEngine, createCudaEngine } from "./engine.ts";
import { fakeDevice, hostAddon } from "./fake-device.testing.ts";
import { compareGolden, computeGolden, GOLDEN_LR, GOLDEN_SEED, goldenBatch, goldenConfig } from "./golden.ts";
import { cudaDevice, cudaMemoryModel } from "./memory.ts";

const k = hostAddon();
const skip = typeof k === "string" ? k : null;
const addon = k as CudaHostAddon;

const LORA = { kind: "lora", rank: 4, alpha: 8, dropout: 0, targets: "all-linear" };
const METHODS: unknown[] = [
  { kind: "full" },
  LORA,
  { ...LORA, kind: "qlora", alpha: 16 },
  { kind: "prefix", virtualTokens: 3 },
];

/** The golden step's plan with what a compiled cuda plan adds: its memory figures and batching. */
function arenaPlan(method: unknown, tokensPerMicroBatch?: number): Plan {
  const cfg = goldenConfig();
  const batch = goldenBatch();
  const m = MethodSchema.parse(method);
  const tokens = tokensPerMicroBatch ?? batch.batch * batch.seqLen;
  const memory = estimateMemory({
    cfg,
    vocab: cfg.vocabSize,
    groups: planParameters(cfg, cfg.vocabSize, 0, m, cudaMemoryModel.frozenStorage).groups,
    method: m,
    tokensPerMicroBatch: tokens,
    sequenceLength: batch.seqLen,
    gradientCheckpointing: false,
    device: cudaDevice(null),
    engine: cudaMemoryModel,
    threads: 1,
  });
  const batching: Plan["batching"] = {
    mode: "bucketed",
    tokensPerMicroBatch: tokens,
    microBatchSize: null,
    gradientAccumulation: 1,
    microBatchesPerEpoch: null,
    paddingFraction: null,
  };
  return {
    ...enginePlan(cfg, method),
    memory,
    batching,
    data: { maxLength: batch.seqLen },
  } as unknown as Plan;
}

/** A fake device that records the most bytes ever in use outside the arena. */
function watchedDevice(free?: number) {
  const d = fakeDevice(addon, free === undefined ? {} : { free });
  let mostOutside = 0;
  const alloc = d.alloc.bind(d);
  d.alloc = (bytes) => {
    const b = alloc(bytes);
    mostOutside = Math.max(mostOutside, d.memory().outside);
    return b;
  };
  return { d, mostOutside: () => mostOutside };
}

describe.skipIf(skip !== null)(`the cuda engine's arena${skip ? ` (skipped: ${skip})` : ""}`, () => {
  beforeAll(async () => {
    await initBackend();
  });

  for (const method of METHODS)
    it(`${(method as { kind: string }).kind}: the plan's bytes are reserved at load, the step's buffers come from them, and the step is the host backend's`, async () => {
      const plan = arenaPlan(method);
      const bytes = planArenaBytes(plan)!;
      expect(bytes).toBe(plan.memory.arena);
      expect(bytes).toBe(plan.memory.peak - plan.memory.runtime!);
      const w = watchedDevice();
      let reserved = 0;
      const reserve = w.d.reserve.bind(w.d);
      w.d.reserve = (n) => {
        if (n > 0) reserved = n;
        reserve(n);
      };
      const got = await computeGolden("arena", method, new CudaEngine(new DeviceOps(w.d, "fake")), plan);
      expect(reserved).toBe(bytes);
      // The model does not count each buffer's rounding to 512 B, which at this tiny size is a few % of
      // the step; the blocks the arena cannot hold come from cudaMalloc.
      expect(w.mostOutside()).toBeLessThan(0.1 * bytes);
      // Disposed: every buffer back in the arena and the arena handed back.
      expect(w.d.memory()).toMatchObject({ inUse: 0, reserved: 0 });
      const want = await computeGolden("host", method, await createCudaEngine(plan, "host"), plan);
      const tight = { loss: 1e-6, gradNorm: 1e-5, grad: 1e-5, after: 1e-6 };
      expect(compareGolden(got, want, tight).filter((c) => !c.ok)).toEqual([]);
    });

  it("memory() reports the arena reserved and the allocator's peak within it", async () => {
    const plan = arenaPlan(LORA);
    const w = watchedDevice();
    const e = new CudaEngine(new DeviceOps(w.d, "fake"));
    await e.load({ plan, model: { config: goldenConfig(), seed: GOLDEN_SEED } });
    const r = await e.forwardBackward(goldenBatch(), { seed: 0 });
    await e.applyStep({ learningRate: GOLDEN_LR, clipNorm: 1, trainedTokens: r.trainedTokens });
    const m = e.memory();
    expect(m.reservedBytes).toBe(planArenaBytes(plan));
    expect(m.peakBytes).toBeGreaterThan(0.9 * m.reservedBytes!);
    expect(m.detail).toContain(`arena ${Math.ceil(m.reservedBytes! / 512) * 512} B reserved`);
    expect(w.d.memory().arenaInUse).toBeGreaterThan(0.9 * m.bytes);
    e.dispose();
  });

  it("an estimate short of what the step takes: the rest comes from outside the arena, the step unchanged", async () => {
    const plan = arenaPlan(LORA);
    const short = { ...plan, memory: { ...plan.memory, arena: 64 * 1024 } };
    const w = watchedDevice();
    const got = await computeGolden("short", LORA, new CudaEngine(new DeviceOps(w.d, "fake")), short);
    expect(w.mostOutside()).toBeGreaterThan(0.5 * planArenaBytes(plan)!);
    const want = await computeGolden("host", LORA, await createCudaEngine(plan, "host"), plan);
    const tight = { loss: 1e-6, gradNorm: 1e-5, grad: 1e-5, after: 1e-6 };
    expect(compareGolden(got, want, tight).filter((c) => !c.ok)).toEqual([]);
  });

  it("a plan whose estimate and 256 MiB beside it exceed the GPU's free memory fails at load, naming both figures", async () => {
    const plan = arenaPlan(LORA);
    const bytes = planArenaBytes(plan)!;
    const w = watchedDevice(bytes + 128 * 2 ** 20);
    const e = new CudaEngine(new DeviceOps(w.d, "fake"));
    const gib = (n: number) => `${(n / 1024 ** 3).toFixed(2)} GiB`;
    await expect(e.load({ plan, model: { config: goldenConfig(), seed: GOLDEN_SEED } })).rejects.toThrow(
      `the plan's memory estimate, ${gib(bytes)} (memory.peak ${gib(plan.memory.peak)}`,
    );
    await expect(
      new CudaEngine(new DeviceOps(watchedDevice(bytes + 128 * 2 ** 20).d, "fake")).load({
        plan,
        model: { config: goldenConfig(), seed: GOLDEN_SEED },
      }),
    ).rejects.toThrow(`does not fit the GPU's ${gib(bytes + 128 * 2 ** 20)} free`);
    // Nothing was placed on the device.
    expect(w.d.memory()).toMatchObject({ inUse: 0, reserved: 0 });
  });

  it("refuses a micro-batch larger than the plan's (the one its estimate and arena are sized for)", async () => {
    const batch = packedBatch(1, goldenConfig().vocabSize);
    // Room for one row of 24: the batch has two.
    const plan = arenaPlan(LORA, batch.seqLen);
    const e = await createCudaEngine(plan, "host");
    await e.load({ plan, model: { config: goldenConfig(), seed: GOLDEN_SEED } });
    await expect(e.forwardBackward(batch, { seed: 0 })).rejects.toThrow(
      "a micro-batch of 2 x 24 = 48 tokens is larger than the plan's 24",
    );
    await expect(e.evalLoss(batch)).rejects.toThrow("larger than the plan's 24");
    const one = {
      ...batch,
      batch: 1,
      ids: batch.ids.subarray(0, 24),
      segments: batch.segments!.subarray(0, 24),
      labels: batch.labels.subarray(0, 24),
    };
    expect((await e.forwardBackward(one, { seed: 0 })).trainedTokens).toBeGreaterThan(0);
    e.dispose();
  });
});
