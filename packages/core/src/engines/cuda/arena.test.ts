// device.cc's sub-allocator (packages/cuda/src/arena.h), built into the host test add-on: blocks never
// overlap, freed neighbours merge back into one range, best fit, and a request nothing holds is refused.
import type { CudaHostAddon } from "@sftkit/cuda";
import { describe, expect, it } from "vitest";
import { mulberry32 } from "../../util/mulberry32.ts";
import { hostAddon } from "./fake-device.testing.ts";

const k = hostAddon();
const skip = typeof k === "string" ? k : null;
const host = k as CudaHostAddon;

describe.skipIf(skip !== null)(`the device's arena (arena.h)${skip ? ` (skipped: ${skip})` : ""}`, () => {
  it("hands out 512-aligned blocks inside it, refuses what no free range holds, and tallies its peak", () => {
    const a = host.arenaNew(4096);
    expect(host.arenaAlloc(a, 1)).toBe(0);
    expect(host.arenaAlloc(a, 513)).toBe(512);
    expect(host.arenaAlloc(a, 4096)).toBe(-1);
    expect(host.arenaStats(a)).toMatchObject({ capacity: 4096, inUse: 1536, peak: 1536, live: 2 });
    expect(host.arenaAlloc(a, 2560)).toBe(1536);
    expect(host.arenaAlloc(a, 1)).toBe(-1);
    expect(host.arenaStats(a)).toMatchObject({ inUse: 4096, largestFree: 0, freeBlocks: 0 });
  });

  it("merges a freed block with its free neighbours on both sides", () => {
    const a = host.arenaNew(5 * 512);
    const offs = [0, 1, 2, 3, 4].map(() => host.arenaAlloc(a, 512));
    expect(offs).toEqual([0, 512, 1024, 1536, 2048]);
    host.arenaFree(a, offs[1]!);
    host.arenaFree(a, offs[3]!);
    expect(host.arenaStats(a)).toMatchObject({ freeBlocks: 2, largestFree: 512 });
    // Freeing the middle one joins all three: a block of three fits again where it did not.
    expect(host.arenaAlloc(a, 1536)).toBe(-1);
    expect(host.arenaFree(a, offs[2]!)).toBe(true);
    expect(host.arenaStats(a)).toMatchObject({ freeBlocks: 1, largestFree: 1536 });
    expect(host.arenaAlloc(a, 1536)).toBe(512);
    expect(host.arenaFree(a, 100)).toBe(false);
  });

  it("fits best: the smallest free range that holds the block", () => {
    const a = host.arenaNew(8 * 512);
    const big = host.arenaAlloc(a, 3 * 512);
    const fence1 = host.arenaAlloc(a, 512);
    const small = host.arenaAlloc(a, 512);
    host.arenaAlloc(a, 512);
    host.arenaFree(a, big);
    host.arenaFree(a, small);
    // Free: [0, 1536) and [2048, 2560) (and the tail [3072, 4096)): one 512 goes into the 512 hole.
    expect(fence1).toBe(1536);
    expect(host.arenaAlloc(a, 512)).toBe(small);
  });

  it("a random workload: live blocks never overlap, and all freed leaves one range of the whole arena", () => {
    const capacity = 1 << 20;
    const a = host.arenaNew(capacity);
    const r = mulberry32(7);
    const live = new Map<number, number>();
    for (let i = 0; i < 4000; i++) {
      if (live.size > 0 && r() < 0.45) {
        const keys = [...live.keys()];
        const off = keys[Math.floor(r() * keys.length)]!;
        expect(host.arenaFree(a, off)).toBe(true);
        live.delete(off);
        continue;
      }
      const bytes = 1 + Math.floor(r() ** 3 * 64 * 1024);
      const off = host.arenaAlloc(a, bytes);
      if (off < 0) continue;
      const size = Math.ceil(bytes / 512) * 512;
      expect(off % 512).toBe(0);
      expect(off + size).toBeLessThanOrEqual(capacity);
      for (const [o, s] of live) expect(off + size <= o || o + s <= off).toBe(true);
      live.set(off, size);
    }
    const inUse = [...live.values()].reduce((x, y) => x + y, 0);
    expect(host.arenaStats(a).inUse).toBe(inUse);
    for (const off of live.keys()) host.arenaFree(a, off);
    expect(host.arenaStats(a)).toMatchObject({ inUse: 0, live: 0, freeBlocks: 1, largestFree: capacity });
  });
});
