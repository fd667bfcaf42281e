import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { ModelConfig } from "../model/config.ts";
import { smollm2Config, tinyConfig } from "../model/tiny.ts";
import { MethodSchema } from "../recipe/schema/method.ts";
import { compile } from "./compile.ts";
import { bucketLengths, findGpu, type GpuPlanInput, parseBytes, planGpu } from "./gpu-plan.ts";
import { activationPeakBytes, LOSS_CHUNK_ROWS } from "./memory.ts";

const GB = 1024 ** 3;
const smollm2 = smollm2Config();
// TinyLlama-1.1B shape.
const tinyllama: ModelConfig = {
  ...tinyConfig("llama"),
  vocabSize: 32000,
  hiddenSize: 2048,
  intermediateSize: 5632,
  numLayers: 22,
  numHeads: 32,
  numKvHeads: 4,
  headDim: 64,
  tieWordEmbeddings: false,
};

function params(cfg: ModelConfig): number {
  const d = cfg.hiddenSize;
  const q = cfg.numHeads * cfg.headDim;
  const kv = cfg.numKvHeads * cfg.headDim;
  const layer = 2 * d * q + 2 * d * kv + 3 * d * cfg.intermediateSize + 2 * d;
  return cfg.numLayers * layer + (cfg.tieWordEmbeddings ? 1 : 2) * cfg.vocabSize * d + d;
}

function fullInput(cfg: ModelConfig, deviceGB: number, maxLength: number): GpuPlanInput {
  return {
    cfg,
    vocab: cfg.vocabSize,
    method: MethodSchema.parse({ kind: "full" }),
    residentBytes: params(cfg) * 16, // f32 weights + gradients + AdamW moments
    maxLength,
    gradientCheckpointing: false,
    device: { name: `sim ${deviceGB}GB`, bytes: deviceGB * GB, simulated: true },
  };
}

function stepBytes(input: GpuPlanInput, rows: number, length: number, ckpt: boolean): number {
  const tokens = rows * length;
  return (
    input.residentBytes +
    activationPeakBytes(input.cfg, input.method, tokens, length, ckpt) +
    Math.min(LOSS_CHUNK_ROWS, tokens) * input.vocab * 8
  );
}

describe("GPU plan", () => {
  it("buckets lengths by powers of two up to the longest row", () => {
    expect(bucketLengths(2048)).toEqual([128, 256, 512, 1024, 2048]);
    expect(bucketLengths(600)).toEqual([128, 256, 512, 600]);
    expect(bucketLengths(100)).toEqual([100]);
  });

  for (const deviceGB of [24, 80]) {
    it(`sizes micro-batches to fill a simulated ${deviceGB} GB device, and no more`, () => {
      const input = fullInput(smollm2, deviceGB, 2048);
      const plan = planGpu(input);
      expect(plan.usableBytes).toBe(Math.floor(deviceGB * GB * 0.9));
      expect(plan.gradientCheckpointing).toBe(false);
      expect(plan.buckets.map((b) => b.length)).toEqual([128, 256, 512, 1024, 2048]);
      expect(plan.distinctShapes).toBe(5);
      for (const b of plan.buckets) {
        expect(b.tokensPerMicroBatch).toBe(b.rows * b.length);
        expect(b.peakBytes).toBe(stepBytes(input, b.rows, b.length, false));
        expect(b.peakBytes).toBeLessThanOrEqual(plan.usableBytes);
        // One more row would not fit (unless capped at 256 rows).
        if (b.rows < 256)
          expect(stepBytes(input, b.rows + 1, b.length, false)).toBeGreaterThan(plan.usableBytes);
      }
      // Longer rows, fewer of them.
      const rows = plan.buckets.map((b) => b.rows);
      expect([...rows].sort((a, b) => b - a)).toEqual(rows);
    });
  }

  it("gives a larger device more rows per bucket", () => {
    const small = planGpu(fullInput(smollm2, 24, 2048));
    const big = planGpu(fullInput(smollm2, 80, 2048));
    for (let i = 0; i < small.buckets.length; i++)
      expect(big.buckets[i]!.rows).toBeGreaterThan(small.buckets[i]!.rows);
    // 2048-token rows: a handful on 24 GB, several times more on 80 GB.
    expect(small.buckets.at(-1)!.rows).toBeGreaterThanOrEqual(1);
    expect(big.buckets.at(-1)!.rows).toBeGreaterThan(3 * small.buckets.at(-1)!.rows);
  });

  it("turns gradient checkpointing on when one long row does not fit without it", () => {
    const small = planGpu(fullInput(tinyllama, 24, 2048));
    expect(small.gradientCheckpointing).toBe(true);
    expect(small.note).toMatch(/checkpointing turned on/);
    expect(small.buckets.at(-1)!.length).toBe(2048);
    const big = planGpu(fullInput(tinyllama, 80, 2048));
    expect(big.gradientCheckpointing).toBe(false);
    expect(big.buckets.at(-1)!.rows).toBeGreaterThanOrEqual(2);
    // 4096-token rows do not fit 24 GB at all: the plan says so.
    expect(planGpu(fullInput(tinyllama, 24, 4096)).note).toMatch(/4096 tokens does not fit/);
    // Resident state alone beyond the device: no bucket fits.
    const none = planGpu(fullInput(tinyllama, 16, 2048));
    expect(none.buckets).toEqual([]);
    expect(none.note).toMatch(/does not fit/);
  });

  it("LoRA leaves more room for rows than full training", () => {
    const full = planGpu(fullInput(smollm2, 24, 1024));
    const lora = planGpu({
      ...fullInput(smollm2, 24, 1024),
      method: MethodSchema.parse({ kind: "lora" }),
      residentBytes: params(smollm2) * 4,
    });
    expect(lora.buckets.at(-1)!.rows).toBeGreaterThan(full.buckets.at(-1)!.rows);
  });

  it("finds a simulated device from $SFTKIT_GPU_MEMORY, none on wasm otherwise", () => {
    expect(parseBytes("24GB")).toBe(24 * GB);
    expect(parseBytes("80 GiB")).toBe(80 * GB);
    expect(parseBytes("81920MiB")).toBe(80 * GB);
    expect(parseBytes("lots")).toBeNull();
    expect(findGpu("wasm", { SFTKIT_GPU_MEMORY: "24GB" })).toEqual({
      name: "simulated 24GB",
      bytes: 24 * GB,
      simulated: true,
    });
    expect(findGpu("wasm", {})).toBeNull();
  });

  describe("in the plan", () => {
    const saved = process.env.SFTKIT_GPU_MEMORY;
    afterEach(() => {
      if (saved === undefined) delete process.env.SFTKIT_GPU_MEMORY;
      else process.env.SFTKIT_GPU_MEMORY = saved;
    });
    const repo = join(import.meta.dirname, "../../../..");
    const recipe = () => ({
      name: "t-gpu",
      model: { path: join(repo, "examples/models/stories260K") },
      template: "llama-2",
      data: {
        sources: { chat: { path: join(repo, "examples/quickstart/data/chat.jsonl"), format: "messages" } },
      },
      method: { kind: "full" as const },
      output: { dir: mkdtempSync(join(tmpdir(), "sft-gpu-")) },
    });

    it("records a gpu section only for a GPU (here simulated)", async () => {
      delete process.env.SFTKIT_GPU_MEMORY;
      const plain = await compile(recipe(), { write: false });
      expect(plain.gpu).toBeUndefined();
      process.env.SFTKIT_GPU_MEMORY = "24GB";
      const plan = await compile(recipe(), { write: false });
      expect(plan.gpu?.device).toEqual({ name: "simulated 24GB", bytes: 24 * GB, simulated: true });
      expect(plan.gpu?.distinctShapes).toBe(plan.gpu?.buckets.length);
      expect(plan.gpu?.buckets.at(-1)?.length).toBe(plan.data.maxLength);
    });
  });
});
