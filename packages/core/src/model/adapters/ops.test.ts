import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../backend.ts";
import { sliceCols, tanh } from "./ops.ts";

beforeAll(async () => {
  await initBackend();
});

describe("adapter ops with hand-written gradients", () => {
  it("sliceCols: values and a zero-padded gradient", async () => {
    const x = tf.tensor2d(
      Float32Array.from({ length: 12 }, (_, i) => i),
      [3, 4],
    );
    const dy = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]);
    expect(await sliceCols(x, 1, 2).array()).toEqual([
      [1, 2],
      [5, 6],
      [9, 10],
    ]);
    const [g] = tf.grads((a) => tf.mul(sliceCols(a as tf.Tensor2D, 1, 2), dy))([x]);
    expect(await g!.array()).toEqual([
      [0, 1, 2, 0],
      [0, 3, 4, 0],
      [0, 5, 6, 0],
    ]);
  });

  it("tanh: gradient matches finite differences", async () => {
    const xs = [-2, -0.5, 0, 0.3, 1.7];
    const x = tf.tensor2d(xs, [1, 5]);
    const [g] = tf.grads((a) => tanh(a as tf.Tensor2D))([x]);
    const got = (await g!.data()) as Float32Array;
    xs.forEach((v, i) => {
      const h = 1e-3;
      expect(got[i]).toBeCloseTo((Math.tanh(v + h) - Math.tanh(v - h)) / (2 * h), 4);
    });
  });
});
