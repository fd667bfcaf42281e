import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { TrainableState } from "../engines/engine.ts";
import { type CheckpointState, latestCheckpoint, readCheckpoint, writeCheckpoint } from "./checkpoint.ts";

const state = (step: number): CheckpointState => ({
  version: 1,
  step,
  epoch: 0,
  microBatch: step,
  seed: 1,
  recipeHash: "h",
  method: "full",
  tokens: 0,
  seconds: 0,
});

/** One trainable tensor `name` with values `w` and moments m = w / 10, v = w / 100 after `step` updates. */
function trainable(name: string, w: number[], shape: number[], step = 1): TrainableState {
  const data = Float32Array.from(w);
  return {
    weights: [{ name, shape, data }],
    optimizer: {
      step,
      m: new Map([[name, data.map((x) => x / 10)]]),
      v: new Map([[name, data.map((x) => x / 100)]]),
    },
  };
}

describe("checkpoints", () => {
  it("round-trip weights and moments", async () => {
    const out = mkdtempSync(join(tmpdir(), "sft-ckpt-"));
    const saved = trainable("w", [1, 2, 3], [1, 3]);
    const dir = await writeCheckpoint(out, saved, state(1));
    const back = await readCheckpoint(dir, [{ name: "w", shape: [1, 3] }]);
    expect(back.state).toMatchObject({ step: 1, microBatch: 1 });
    expect(back.trainable.weights.map((w) => [w.name, w.shape, Array.from(w.data)])).toEqual([
      ["w", [1, 3], [1, 2, 3]],
    ]);
    expect(back.trainable.optimizer.step).toBe(1);
    expect(Array.from(back.trainable.optimizer.m.get("w")!)).toEqual(Array.from(saved.optimizer.m.get("w")!));
    expect(Array.from(back.trainable.optimizer.v.get("w")!)).toEqual(Array.from(saved.optimizer.v.get("w")!));
  });

  it("a write that fails leaves neither a checkpoint nor its temp folder", async () => {
    const out = mkdtempSync(join(tmpdir(), "sft-ckpt-"));
    await writeCheckpoint(out, trainable("w", [1, 2], [2]), state(2));
    const broken = trainable("w", [1, 2], [2]);
    broken.optimizer.m.clear();
    await expect(writeCheckpoint(out, broken, state(4))).rejects.toThrow(/no moment/);
    expect(readdirSync(join(out, "checkpoints"))).toEqual(["step-2"]);
    expect(await latestCheckpoint(out)).toBe(join(out, "checkpoints", "step-2"));
    expect(existsSync(join(out, "checkpoints", "step-4"))).toBe(false);
  });

  it("a checkpoint of another method is refused by name", async () => {
    const out = mkdtempSync(join(tmpdir(), "sft-ckpt-"));
    const dir = await writeCheckpoint(out, trainable("lora_A", [1], [1]), state(1));
    await expect(readCheckpoint(dir, [{ name: "w", shape: [1] }])).rejects.toThrow(/does not train/);
  });
});
