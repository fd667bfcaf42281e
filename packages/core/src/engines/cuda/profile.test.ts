import { describe, expect, it } from "vitest";
import { initBackend } from "../../model/backend.ts";
import { enginePlan, packedBatch, smallConfig } from "../native/testing.ts";
import { DeviceOps } from "./device-ops.ts";
import { CudaEngine, createCudaEngine } from "./engine.ts";
import { fakeDevice, requireHostAddon } from "./fake-device.testing.ts";
import { cudaEngineAvailability } from "./index.ts";
import { formatProfile, OpProfiler, type ProfileMode, profileRequested } from "./profile.ts";

const host = cudaEngineAvailability({ SFTKIT_CUDA_HOST: "1" });
const title = (t: string) => (host.available ? t : `${t} (skipped: ${host.reason})`);
const cfg = smallConfig();
const LORA = { kind: "lora", rank: 4, alpha: 8, dropout: 0, targets: "all-linear" };

async function profiledStep(engine: CudaEngine, mode: ProfileMode = "sync") {
  const plan = enginePlan(cfg, LORA);
  await engine.load({ plan, model: { config: cfg, seed: 2 } });
  const p = new OpProfiler(engine.ops, mode);
  p.start();
  const l = await engine.forwardBackward(packedBatch(1, cfg.vocabSize), { seed: 0 });
  p.phase("forwardBackward");
  await engine.applyStep({ learningRate: 1e-3, clipNorm: 1, trainedTokens: l.trainedTokens });
  p.phase("applyStep");
  return p.stop();
}

describe.skipIf(!host.available)(title("the cuda engine's per-op profile"), () => {
  it("lists the ops one LoRA step calls, with their counts, times and the host time between them", async () => {
    await initBackend();
    const engine = await createCudaEngine(enginePlan(cfg, LORA), "host");
    const p = await profiledStep(engine);
    const calls = new Map(p.ops.map((r) => [r.op, r.calls]));
    const L = cfg.numLayers;
    // One attention per layer each way, one RoPE'd q and k per layer each way, AdamW per trained tensor.
    expect(calls.get("attentionForward")).toBe(L);
    expect(calls.get("attentionBackward")).toBe(L);
    expect(calls.get("swigluForward")).toBe(L);
    expect(calls.get("swigluBackward")).toBe(L);
    expect(calls.get("rope")).toBe(4 * L);
    expect(calls.get("adamw")).toBe(7 * 2 * L);
    expect(calls.get("rmsNormForward")).toBe(2 * L + 1);
    expect(calls.get("embeddingGather")).toBe(1);
    for (const op of ["gemm bf16", "gemm f32", "toBf16", "scratch", "free", "axpy"])
      expect(calls.get(op), op).toBeGreaterThan(0);
    // Read back twice a step (the loss's rows once, the gradients' squares together); uploads (ids,
    // segments, cos, sin, targets) all before the first layer.
    expect(calls.get("download")).toBe(1);
    expect(calls.get("sumSquaresMany")).toBe(1);
    expect(calls.get("sumSquares")).toBeUndefined();
    expect(calls.get("crossEntropyRows")).toBeGreaterThan(0);
    expect(calls.get("upload")).toBe(5);
    expect(p.ops.every((r) => r.calls > 0 && r.ms >= 0 && r.share >= 0 && r.share <= 1)).toBe(true);
    expect(p.calls).toBe(p.ops.reduce((n, r) => n + r.calls, 0));
    expect(p.opMs).toBeGreaterThan(0);
    expect(p.hostMs).toBeGreaterThan(0);
    expect(p.opMs + p.hostMs).toBeCloseTo(p.wallMs, 3);
    expect(p.phases.map((x) => x.name)).toEqual([
      "embed + uploads",
      "layers forward",
      "final norm + lm head + loss",
      "layers backward",
      "embedding grads + loss read-back",
      "forwardBackward",
      "applyStep",
    ]);
    const phased = p.phases.reduce((t, x) => t + x.ms, 0);
    expect(phased).toBeLessThanOrEqual(p.wallMs + 1e-6);
    expect(p.phases.reduce((t, x) => t + x.opMs, 0)).toBeCloseTo(p.opMs, 6);
    for (const x of p.phases) expect(x.opMs + x.hostMs).toBeCloseTo(x.ms, 3);
    // Ops by time, most first; GEMM shapes counted as the GEMM rows are.
    expect(p.ops.map((r) => r.ms)).toEqual([...p.ops.map((r) => r.ms)].sort((a, b) => b - a));
    const gemmCalls = (calls.get("gemm bf16") ?? 0) + (calls.get("gemm f32") ?? 0);
    expect(p.gemms.reduce((n, g) => n + g.calls, 0)).toBeLessThanOrEqual(gemmCalls);
    expect(p.gemms[0]?.shape).toMatch(/^(bf16|f32) [NT]{2} \d+x\d+x\d+ beta [01]$/);
    const table = formatProfile(p);
    expect(table).toContain("attentionBackward");
    expect(table).toContain("(host between ops)");
    // Stopped: the ops object is as it was (its methods are the class's again).
    expect(Object.keys(engine.ops).filter((k) => typeof (engine.ops as never)[k] === "function")).toEqual([]);
    // The next step with the same positions keeps the RoPE tables on the backend: ids and targets only.
    const again = new OpProfiler(engine.ops);
    again.start();
    await engine.forwardBackward(packedBatch(1, cfg.vocabSize), { seed: 0 });
    expect(again.stop().ops.find((r) => r.op === "upload")?.calls).toBe(3);
    engine.dispose();
    expect(engine.memory().bytes).toBe(0);
  });

  it("synchronises the device after each op it times, and only while started", async () => {
    const fake = fakeDevice(requireHostAddon());
    let syncs = 0;
    fake.sync = () => {
      syncs++;
    };
    const engine = new CudaEngine(new DeviceOps(fake, "fake"));
    const prof = await profiledStep(engine);
    // After each op but those that put nothing on the stream (views, frees, scratch buffers).
    const hostOnly = ["view", "free", "scratch"].reduce(
      (n, op) => n + (prof.ops.find((r) => r.op === op)?.calls ?? 0),
      0,
    );
    expect(hostOnly).toBeGreaterThan(0);
    expect(syncs).toBe(prof.calls - hostOnly + 2);
    const before = syncs;
    await engine.forwardBackward(packedBatch(1, cfg.vocabSize), { seed: 0 });
    expect(syncs).toBe(before);
    engine.dispose();
  });

  it("events mode (a device's timing events, no sync): each op's GPU time and the GPU's idle time after it", async () => {
    const fake = fakeDevice(requireHostAddon());
    let syncs = 0;
    let marks = 0;
    fake.sync = () => {
      syncs++;
    };
    const mark = fake.timingMark;
    fake.timingMark = () => {
      marks++;
      mark();
    };
    const engine = new CudaEngine(new DeviceOps(fake, "fake"));
    const prof = await profiledStep(engine, "events");
    expect(prof.mode).toBe("events");
    expect(syncs).toBeLessThanOrEqual(2);
    const calls = new Map(prof.ops.map((r) => [r.op, r]));
    expect(calls.get("attentionBackward")?.calls).toBe(cfg.numLayers);
    // Events around each op that runs on the GPU (not around views, frees and scratch buffers), one at each end.
    const hostOnly = ["view", "free", "scratch"].reduce((n, op) => n + (calls.get(op)?.calls ?? 0), 0);
    expect(marks).toBe(2 * (prof.calls - hostOnly) + 2);
    expect(calls.get("scratch")?.ms).toBe(0);
    expect(calls.get("gemm bf16")!.ms).toBeGreaterThan(0);
    for (const r of prof.ops) {
      expect(r.launchMs, r.op).toBeGreaterThanOrEqual(0);
      expect(r.idleAfterMs, r.op).toBeGreaterThanOrEqual(0);
    }
    expect(prof.gpuIdleMs).toBeGreaterThanOrEqual(0);
    expect(prof.phases.find((x) => x.name === "layers backward")?.idleMs).toBeGreaterThanOrEqual(0);
    expect(prof.gemms.reduce((t, g) => t + g.ms, 0)).toBeGreaterThan(0);
    expect(formatProfile(prof)).toContain("GPU idle");
    engine.dispose();
    const hostEngine = await createCudaEngine(enginePlan(cfg, LORA), "host");
    expect(() => new OpProfiler(hostEngine.ops, "events")).toThrow(/no GPU timer/);
  });

  it("is asked for by SFTKIT_CUDA_PROFILE=1 only", () => {
    expect(profileRequested({ SFTKIT_CUDA_PROFILE: "1" })).toBe(true);
    expect(profileRequested({})).toBe(false);
    expect(profileRequested({ SFTKIT_CUDA_PROFILE: "0" })).toBe(false);
  });
});
