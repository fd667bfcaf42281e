import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../model/backend.ts";
import { AdamW } from "./adamw.ts";
import { type CheckpointState, latestCheckpoint, readCheckpoint, writeCheckpoint } from "./checkpoint.ts";

beforeAll(async () => {
  await initBackend();
});

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
const opts = { betas: [0.9, 0.999] as const, eps: 1e-8, weightDecay: 0, decays: () => true };

describe("checkpoints", () => {
  it("round-trip weights and moments", async () => {
    const out = mkdtempSync(join(tmpdir(), "sft-ckpt-"));
    const w = tf.variable(tf.tensor2d([[1, 2, 3]]));
    const params = new Map([["w", w]]);
    const opt = new AdamW(params, opts);
    const g = tf.tensor2d([[0.5, -1, 2]]);
    opt.update(new Map([["w", g]]), 0.1);
    const dir = await writeCheckpoint(out, params, opt, state(1));
    const before = Array.from(await w.data());
    const m = Array.from((await opt.state()).m.get("w")!);

    const w2 = tf.variable(tf.zeros([1, 3]));
    const params2 = new Map([["w", w2]]);
    const opt2 = new AdamW(params2, opts);
    expect(await readCheckpoint(dir, params2, opt2)).toMatchObject({ step: 1, microBatch: 1 });
    expect(Array.from(await w2.data())).toEqual(before);
    const s2 = await opt2.state();
    expect(s2.step).toBe(1);
    expect(Array.from(s2.m.get("w")!)).toEqual(m);
    tf.dispose([w, w2, g]);
    opt.dispose();
    opt2.dispose();
  });

  it("a write that fails leaves neither a checkpoint nor its temp folder", async () => {
    const out = mkdtempSync(join(tmpdir(), "sft-ckpt-"));
    const w = tf.variable(tf.tensor1d([1, 2]));
    const opt = new AdamW(new Map([["w", w]]), opts);
    await writeCheckpoint(out, new Map([["w", w]]), opt, state(2));
    const gone = tf.variable(tf.tensor1d([1, 2]));
    const optGone = new AdamW(new Map([["w", gone]]), opts);
    gone.dispose();
    await expect(writeCheckpoint(out, new Map([["w", gone]]), optGone, state(4))).rejects.toThrow();
    expect(readdirSync(join(out, "checkpoints"))).toEqual(["step-2"]);
    expect(await latestCheckpoint(out)).toBe(join(out, "checkpoints", "step-2"));
    expect(existsSync(join(out, "checkpoints", "step-4"))).toBe(false);
    w.dispose();
    opt.dispose();
    optGone.dispose();
  });

  it("a checkpoint of another method is refused by name", async () => {
    const out = mkdtempSync(join(tmpdir(), "sft-ckpt-"));
    const w = tf.variable(tf.tensor1d([1]));
    const opt = new AdamW(new Map([["lora_A", w]]), opts);
    const dir = await writeCheckpoint(out, new Map([["lora_A", w]]), opt, state(1));
    const v = tf.variable(tf.tensor1d([0]));
    const opt2 = new AdamW(new Map([["w", v]]), opts);
    await expect(readCheckpoint(dir, new Map([["w", v]]), opt2)).rejects.toThrow(/does not train/);
    tf.dispose([w, v]);
    opt.dispose();
    opt2.dispose();
  });
});
