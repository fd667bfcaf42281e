// The GPU plan of an engine with its own memory model (cuda): the rows of maxLength that fill the GPU
// less the reserve by that model, checkpointing turned on when one row fits only with it.
import { describe, expect, it } from "vitest";
import { ENGINE_GPU_MAX_ROWS, ENGINE_GPU_RESERVE, type EngineGpuInput, planEngineGpu } from "./engine-gpu.ts";

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** A linear model: 2 GiB resident, 1 MiB a token (a quarter with recomputation). */
function input(deviceGiB: number, o: Partial<EngineGpuInput> = {}): EngineGpuInput {
  return {
    device: { name: "sim", bytes: deviceGiB * GiB, simulated: true },
    maxLength: 1024,
    gradientCheckpointing: false,
    estimate: (tokens, recompute) => ({
      peak: 2 * GiB + (recompute ? 0.25 : 1) * MiB * tokens,
      resident: 2 * GiB,
    }),
    ...o,
  };
}

describe("the engine's GPU plan", () => {
  it("takes the most rows of maxLength whose estimate fits the GPU less the reserve", () => {
    const p = planEngineGpu(input(24));
    const usable = Math.floor(24 * GiB * (1 - ENGINE_GPU_RESERVE));
    const rows = Math.floor((usable - 2 * GiB) / (1024 * MiB));
    expect(p.usableBytes).toBe(usable);
    expect(p.buckets).toEqual([
      { length: 1024, rows, tokensPerMicroBatch: rows * 1024, peakBytes: 2 * GiB + rows * 1024 * MiB },
    ]);
    expect(p.gradientCheckpointing).toBe(false);
    expect(p.residentBytes).toBe(2 * GiB);
    expect(p.note).toContain(`${rows} rows of 1024 tokens`);
  });

  it("stops at the most rows it gives a micro-batch", () => {
    expect(planEngineGpu(input(10_000)).buckets[0]?.rows).toBe(ENGINE_GPU_MAX_ROWS);
    expect(planEngineGpu(input(10_000, { maxRows: 7 })).buckets[0]?.rows).toBe(7);
  });

  it("turns gradient checkpointing on when one row fits only with it, and says when none fits", () => {
    // 3 GiB usable less 2 resident: a row of 1024 tokens takes 1 GiB plain, 0.25 GiB recomputed.
    const tight = planEngineGpu(input(3.1));
    expect(tight.gradientCheckpointing).toBe(true);
    expect(tight.buckets[0]?.rows).toBeGreaterThan(0);
    expect(tight.note).toContain("gradient checkpointing turned on");
    const none = planEngineGpu(input(2));
    expect(none.buckets).toEqual([]);
    expect(none.note).toContain("does not fit");
  });
});
