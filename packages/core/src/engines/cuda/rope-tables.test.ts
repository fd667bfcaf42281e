// The RoPE tables the cuda engine uploads: ropeTables' values bit for bit from one row per position, and
// kept on the backend while the positions repeat.
import { describe, expect, it } from "vitest";
import { defaultPositions } from "../../model/batch.ts";
import { ropeTables } from "../../model/rope.ts";
import { tinyConfig } from "../../model/tiny.ts";
import { packedBatch } from "../native/testing.ts";
import type { Buf, CudaOps } from "./ops.ts";
import { expandedRopeTables, RopeCache } from "./rope-tables.ts";

const plain = tinyConfig("qwen2", { headDim: 16, ropeTheta: 1e6 });
const longrope = tinyConfig("phi3", {
  headDim: 16,
  maxPositionEmbeddings: 64,
  partialRotaryFactor: 0.5,
  ropeScaling: {
    type: "longrope",
    shortFactor: Array(4).fill(1.5),
    longFactor: Array(4).fill(3),
    originalMaxPositionEmbeddings: 16,
  },
} as never);

describe("the cuda engine's RoPE tables", () => {
  it("equal ropeTables bit for bit: packed positions, a prefix offset, one late position, longrope past its context", () => {
    const packed = defaultPositions(packedBatch(1, 50));
    const cases: [typeof plain, ArrayLike<number>][] = [
      [plain, packed],
      [plain, defaultPositions(packedBatch(2, 50), 7)],
      [plain, [500]],
      [plain, Int32Array.from({ length: 40 }, (_, i) => i % 13)],
      [longrope, Int32Array.from({ length: 60 }, (_, i) => i % 30)],
      [longrope, Int32Array.from({ length: 60 }, (_, i) => i % 10)],
    ];
    for (const [cfg, pos] of cases) {
      const want = ropeTables(cfg, pos);
      const got = expandedRopeTables(cfg, pos);
      expect(Buffer.from(got.cos.buffer).equals(Buffer.from(want.cos.buffer))).toBe(true);
      expect(Buffer.from(got.sin.buffer).equals(Buffer.from(want.sin.buffer))).toBe(true);
    }
  });

  it("uploads once while the positions repeat, again when they change, and frees what it held", () => {
    const held = new Set<Buf>();
    let uploads = 0;
    const ops = {
      scratch: (dtype: "f32", n: number) => {
        const b = { dtype, n };
        held.add(b);
        return b;
      },
      upload: () => {
        uploads++;
      },
      free: (b: Buf) => held.delete(b),
    } as unknown as CudaOps;
    const cache = new RopeCache(ops, plain);
    const a = cache.tables(Int32Array.from([0, 1, 2, 0, 1]));
    expect(cache.tables([0, 1, 2, 0, 1])).toBe(a);
    expect(uploads).toBe(2);
    expect(cache.tables([0, 1, 2, 3, 4])).not.toBe(a);
    expect(uploads).toBe(4);
    expect(cache.misses).toBe(2);
    expect(held.size).toBe(2);
    cache.dispose();
    expect(held.size).toBe(0);
  });
});
