// The cuda engine's step on its HOST backend (the kernels' math.h arithmetic on the CPU, GEMMs over
// bf16-rounded operands as cuBLASLt takes them): the same orchestration the GPU runs, checked in CI
// against the tfjs-made golden files, plus training, evaluation, resume and artefacts.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { Plan } from "../../compile/plan-schema.ts";
import { newToken } from "../../methods/testing.ts";
import { initBackend } from "../../model/backend.ts";
import { SafetensorsFile } from "../../model/safetensors.ts";
import { gradientCheckpointingOf } from "../decisions.ts";
import type { Engine, EngineMicroBatch } from "../engine.ts";
import { enginePlan, packedBatch, relDiff, tempDir } from "../native/testing.ts";
import { transpose } from "../native/weights.ts";
import { DeviceOps } from "./device-ops.ts";
import { CudaEngine, createCudaEngine } from "./engine.ts";
import { fakeDevice, hostAddon, requireHostAddon } from "./fake-device.testing.ts";
import {
  compareGolden,
  computeGolden,
  GOLDEN_DIR,
  GOLDEN_LR,
  GOLDEN_SEED,
  goldenBatch,
  goldenConfig,
  goldenPlan,
  readGolden,
} from "./golden.ts";
import type { CudaModel } from "./model.ts";

const addon = hostAddon();
const skip = typeof addon === "string" ? addon : null;
const title = (t: string) => (skip ? `${t} (skipped: ${skip})` : t);

const host = (method: unknown): Promise<Engine> => createCudaEngine(goldenPlan(method), "host");

const LORA = { kind: "lora", rank: 4, alpha: 8, dropout: 0, targets: "all-linear" };
const PREFIX = { kind: "prefix", virtualTokens: 3 };

describe.skipIf(skip !== null)(title("cuda engine on the host backend"), () => {
  beforeAll(async () => {
    await initBackend();
  });

  for (const name of ["full", "lora", "qlora", "prefix"])
    it(`${name}: one step matches the golden file within bf16 tolerances`, async () => {
      const want = readGolden(GOLDEN_DIR, name);
      const got = await computeGolden(name, want.method, await host(want.method));
      const bad = compareGolden(got, want).filter((c) => !c.ok);
      expect(bad).toEqual([]);
    });

  it("the device backend's marshalling (a fake device keeping device.cc's contract) computes the host backend's step", async () => {
    const k = requireHostAddon();
    const tight = { loss: 1e-6, gradNorm: 1e-5, grad: 1e-5, after: 1e-6 };
    // Beside the goldens' methods: LoRA dropout, DoRA and trainable rows of added tokens (views into the tables).
    const added = { added: [newToken("<a>", 64), newToken("<b>", 65, "noise")] };
    const cases: { method: unknown; plan?: Plan; batch?: EngineMicroBatch }[] = [
      ...[
        { kind: "full" },
        LORA,
        { ...LORA, kind: "qlora" },
        PREFIX,
        { ...LORA, dropout: 0.1 },
        { ...LORA, dora: true },
      ].map((method) => ({
        method,
      })),
      { method: LORA, plan: enginePlan(goldenConfig(), LORA, added), batch: packedBatch(1, 66) },
    ];
    for (const { method, plan, batch } of cases) {
      const fake = new CudaEngine(new DeviceOps(fakeDevice(k), "fake"));
      const got = await computeGolden("fake", method, fake, plan, batch);
      const want = await computeGolden("host", method, await host(method), plan, batch);
      expect(compareGolden(got, want, tight).filter((c) => !c.ok)).toEqual([]);
      if (plan) expect(got.tensors.some((t) => t.name.endsWith("trainable_tokens"))).toBe(true);
    }
    const fake = new CudaEngine(new DeviceOps(fakeDevice(k), "fake"));
    await fake.load({ plan: goldenPlan(LORA), model: { config: goldenConfig(), seed: GOLDEN_SEED } });
    const viaHost = await host(LORA);
    await viaHost.load({ plan: goldenPlan(LORA), model: { config: goldenConfig(), seed: GOLDEN_SEED } });
    const g = await fake.generate([1, 2, 3], { maxNewTokens: 5 });
    expect(g.ids).toEqual((await viaHost.generate([1, 2, 3], { maxNewTokens: 5 })).ids);
    expect(fake.memory().bytes % 512).toBe(0);
    fake.dispose();
    expect(fake.memory().bytes).toBe(0);
    viaHost.dispose();
  });

  it("prefix: generation's KV cache starts with the prefix rows and continues as re-running the sequence; the adapter is written", async () => {
    const e = await host(PREFIX);
    await e.load({ plan: goldenPlan(PREFIX), model: { config: goldenConfig(), seed: GOLDEN_SEED } });
    const r = await e.forwardBackward(goldenBatch(), { seed: 0 });
    await e.applyStep({ learningRate: GOLDEN_LR, clipNorm: 0, trainedTokens: r.trainedTokens });
    const model = (e as unknown as { loaded: { model: CudaModel } }).loaded.model;
    const cache = model.newCache(8);
    expect(cache.length).toBe(3);
    model.lastLogits([1, 2, 3], cache);
    const cached = model.lastLogits([5], cache);
    expect(relDiff(cached, model.lastLogits([1, 2, 3, 5]))).toBeLessThan(1e-5);
    model.freeCache(cache);
    const files = await e.saveArtefacts({
      outDir: tempDir("cuda-prefix"),
      save: "adapter",
      tokenizerDir: null,
      chatTemplate: null,
      baseModel: { id: null, revision: null },
    });
    expect(files).toContain("adapter/adapter_model.safetensors");
    e.dispose();
  });

  it("lora: trains (loss falls), evaluates, and a resumed run continues bit-identically", async () => {
    const plan = goldenPlan(LORA);
    const model = { config: goldenConfig(), seed: GOLDEN_SEED };
    const batch = goldenBatch();
    const a = await host(LORA);
    await a.load({ plan, model });
    const before = await a.evalLoss(batch);
    const step = async (e: Engine) => {
      const r = await e.forwardBackward(batch, { seed: 0 });
      await e.applyStep({ learningRate: 0.5, clipNorm: 1, trainedTokens: r.trainedTokens });
      return r.lossSum;
    };
    for (let i = 0; i < 3; i++) await step(a);
    const saved = await a.readState();
    const after = await a.evalLoss(batch);
    expect(after.trainedTokens).toBe(before.trainedTokens);
    expect(after.lossSum).toBeLessThan(before.lossSum * 0.98);
    const next = await step(a);
    const endA = await a.readState();

    const b = await host(LORA);
    await b.load({ plan, model });
    await b.writeState(saved);
    expect(await step(b)).toBe(next);
    const endB = await b.readState();
    expect(endB.optimizer.step).toBe(4);
    for (const [i, w] of endA.weights.entries()) {
      expect(endB.weights[i]!.data).toEqual(w.data);
      expect(endB.optimizer.m.get(w.name)).toEqual(endA.optimizer.m.get(w.name));
      expect(endB.optimizer.v.get(w.name)).toEqual(endA.optimizer.v.get(w.name));
    }
    const held = a.memory();
    expect(held.bytes).toBeGreaterThan(0);
    expect(held.peakBytes).toBeGreaterThan(held.bytes);
    a.dispose();
    // Everything resident is handed back: the tally returns to zero.
    expect(a.memory().bytes).toBe(0);
    b.dispose();
  });

  it("full with gradient checkpointing computes the same step as without", async () => {
    const run = async (recompute: boolean) => {
      const e = await host({ kind: "full" });
      const plan = enginePlan(goldenConfig(), { kind: "full" }, { recompute });
      expect(gradientCheckpointingOf(plan)).toBe(recompute);
      await e.load({ plan, model: { config: goldenConfig(), seed: GOLDEN_SEED } });
      const r = await e.forwardBackward(packedBatch(2, goldenConfig().vocabSize), { seed: 0 });
      const { gradNorm } = await e.applyStep({
        learningRate: 0.01,
        clipNorm: 0,
        trainedTokens: r.trainedTokens,
      });
      e.dispose();
      return [r.lossSum, gradNorm];
    };
    expect(await run(true)).toEqual(await run(false));
  });

  it("lora: writes a PEFT adapter whose B factors are the trained ones; generates greedily through a KV cache", async () => {
    const e = await host(LORA);
    await e.load({ plan: goldenPlan(LORA), model: { config: goldenConfig(), seed: GOLDEN_SEED } });
    const r = await e.forwardBackward(goldenBatch(), { seed: 0 });
    await e.applyStep({ learningRate: GOLDEN_LR, clipNorm: 0, trainedTokens: r.trainedTokens });
    const dir = tempDir("cuda-save");
    const files = await e.saveArtefacts({
      outDir: dir,
      save: "adapter",
      tokenizerDir: null,
      chatTemplate: null,
      baseModel: { id: null, revision: null },
    });
    expect(files).toContain("adapter/adapter_model.safetensors");
    const cfg = JSON.parse(readFileSync(join(dir, "adapter", "adapter_config.json"), "utf8"));
    expect(cfg.r).toBe(4);
    // PEFT's lora_B is [out, r]; the engine's state keeps the tfjs layout B^T [r, out].
    const state = await e.readState();
    const b = state.weights.find((w) => w.name === "model.layers.1.mlp.down_proj.lora_B")!;
    const [rank, out] = b.shape as [number, number];
    expect(b.data.some((x) => x !== 0)).toBe(true);
    const file = await SafetensorsFile.open(join(dir, "adapter", "adapter_model.safetensors"));
    const key = [...file.tensors.keys()].find((n) => n.includes("layers.1.mlp.down_proj.lora_B"))!;
    const saved = await file.readF32(key, [out, rank]);
    await file.close();
    expect(saved).toEqual(transpose(b.data, rank, out));
    // The KV cache continues exactly as re-running the whole sequence would.
    const model = (e as unknown as { loaded: { model: CudaModel } }).loaded.model;
    const cache = model.newCache(8);
    model.lastLogits([1, 2, 3], cache);
    model.lastLogits([7], cache);
    expect(cache.length).toBe(4);
    const cached = model.lastLogits([9, 11], cache);
    expect(relDiff(cached, model.lastLogits([1, 2, 3, 7, 9, 11]))).toBeLessThan(1e-5);
    model.freeCache(cache);
    const g1 = await e.generate([1, 2, 3], { maxNewTokens: 4 });
    const g2 = await e.generate([1, 2, 3], { maxNewTokens: 4 });
    expect(g1.ids).toHaveLength(4);
    expect(g2.ids).toEqual(g1.ids);
    e.dispose();
  });
});
