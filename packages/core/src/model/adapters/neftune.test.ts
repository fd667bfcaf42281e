// NEFTune's noise as transformers' neftune_post_forward_hook draws it (src/transformers/trainer_utils.py):
// output + U(-alpha/sqrt(L·d), alpha/sqrt(L·d)), L = output.size(1) (the padded length), d = output.size(2).
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../backend.ts";
import { neftuneHooks } from "./neftune.ts";

beforeAll(async () => {
  await initBackend();
});

const noiseOf = (alpha: number, seed: number, B: number, S: number, d: number) =>
  tf.tidy(() => {
    const x = tf.ones([B * S, d]) as tf.Tensor2D;
    return tf.sub(neftuneHooks(alpha, seed).embeddings!(x, B, S), x).dataSync() as Float32Array;
  });

describe("NEFTune noise", () => {
  it("is uniform in ±alpha/sqrt(L·d) with L the sequence length, and seeded", () => {
    const [B, S, d] = [3, 16, 32];
    const bound = 5 / Math.sqrt(S * d);
    const n = noiseOf(5, 7, B, S, d);
    expect(n.length).toBe(B * S * d);
    const max = Math.max(...n.map(Math.abs));
    expect(max).toBeLessThanOrEqual(bound * (1 + 1e-6));
    // 1536 draws reach near the bound and average near 0 (a uniform's mean; its variance bound²/3).
    expect(max).toBeGreaterThan(0.99 * bound);
    const mean = n.reduce((a, x) => a + x, 0) / n.length;
    expect(Math.abs(mean)).toBeLessThan(0.1 * bound);
    const variance = n.reduce((a, x) => a + x * x, 0) / n.length;
    expect(variance / ((bound * bound) / 3)).toBeGreaterThan(0.9);
    expect(variance / ((bound * bound) / 3)).toBeLessThan(1.1);
    // The batch dimension does not enter the scale: L is the sequence length.
    expect(Math.max(...noiseOf(5, 7, 1, S, d).map(Math.abs))).toBeLessThanOrEqual(bound * (1 + 1e-6));
    expect(noiseOf(5, 7, B, S, d)).toEqual(n);
    expect(noiseOf(5, 8, B, S, d)).not.toEqual(n);
  });
});
