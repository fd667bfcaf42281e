import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { initBackend } from "./backend.ts";
import { lastTwoSwap, transposeLastTwo } from "./wasm-kernels.ts";

describe("wasm kernels: transpose", () => {
  it("recognises swaps of the last two non-trivial axes", () => {
    expect(lastTwoSwap([3, 5], [1, 0])).toEqual([1, 3, 5]);
    expect(lastTwoSwap([2, 3, 5], [0, 2, 1])).toEqual([2, 3, 5]);
    expect(lastTwoSwap([1, 3, 1, 5], [0, 3, 2, 1])).toEqual([1, 3, 5]);
    expect(lastTwoSwap([2, 3, 5], [1, 0, 2])).toBeNull();
    expect(lastTwoSwap([2, 3, 4, 5], [0, 2, 1, 3])).toBeNull();
  });

  it("matches a plain transpose for odd sizes, per batch", () => {
    const [B, R, C] = [3, 37, 21];
    const src = Float32Array.from({ length: B * R * C }, (_, i) => i);
    const dst = new Float32Array(src.length);
    transposeLastTwo(src, dst, B, R, C);
    for (let b = 0; b < B; b++)
      for (let i = 0; i < R; i++)
        for (let j = 0; j < C; j++) expect(dst[b * R * C + j * R + i]).toBe(src[b * R * C + i * C + j]);
  });

  it("agrees with tfjs on the active backend (registered kernel on wasm)", async () => {
    await initBackend();
    const x = tf.tensor(
      Array.from({ length: 2 * 1 * 33 * 19 }, (_, i) => i * 0.5),
      [2, 1, 33, 19],
    );
    const cases: number[][] = [
      [0, 1, 3, 2],
      [1, 0, 3, 2],
      [0, 2, 1, 3],
      [3, 2, 1, 0],
    ];
    const data = await x.data();
    for (const perm of cases) {
      const got = tf.transpose(x, perm);
      const outShape = perm.map((p) => x.shape[p]!);
      // Reference: out[idx] = x[idx permuted back], by index arithmetic.
      const strides = [x.shape[1]! * x.shape[2]! * x.shape[3]!, x.shape[2]! * x.shape[3]!, x.shape[3]!, 1];
      const want: number[] = [];
      const idx = [0, 0, 0, 0];
      for (idx[0] = 0; idx[0] < outShape[0]!; idx[0]++)
        for (idx[1] = 0; idx[1] < outShape[1]!; idx[1]++)
          for (idx[2] = 0; idx[2] < outShape[2]!; idx[2]++)
            for (idx[3] = 0; idx[3] < outShape[3]!; idx[3]++) {
              let off = 0;
              for (let a = 0; a < 4; a++) off += idx[a]! * strides[perm[a]!]!;
              want.push(data[off]!);
            }
      expect(got.shape).toEqual(outShape);
      expect(Array.from(await got.data())).toEqual(want);
      got.dispose();
    }
    x.dispose();
  });
});

describe("wasm kernels: identity", () => {
  it("clones share the bytes and outlive their source (wasm)", async () => {
    const info = await initBackend();
    if (info.backend !== "wasm") return;
    const before = tf.memory().numDataBuffers;
    const a = tf.tensor1d([1, 2, 3, 4]);
    const b = tf.clone(a);
    expect(tf.memory().numDataBuffers - before).toBe(1);
    a.dispose();
    expect(Array.from(b.dataSync())).toEqual([1, 2, 3, 4]);
    b.dispose();
    expect(tf.memory().numDataBuffers).toBe(before);
  });
});

describe("wasm kernels: row gather", () => {
  it("copies whole rows in index order and rejects an index outside the rows", async () => {
    await initBackend();
    const x = tf.tensor3d(
      Array.from({ length: 4 * 2 * 3 }, (_, i) => i),
      [4, 2, 3],
    );
    const idx = tf.tensor2d([3, 0, 3, 1], [2, 2], "int32");
    const g = tf.gather(x, idx);
    expect(g.shape).toEqual([2, 2, 2, 3]);
    const rows = x.arraySync();
    expect(g.arraySync()).toEqual([
      [rows[3], rows[0]],
      [rows[3], rows[1]],
    ]);
    const before = tf.memory().numTensors;
    expect(() => tf.gather(x, tf.tensor1d([4], "int32"))).toThrow(/index value 4 is not in \[0, 3\]/);
    expect(tf.memory().numTensors).toBeLessThanOrEqual(before + 1);
    tf.dispose([x, idx, g]);
  });
});
