import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Checkpoint, INDEX_FILE, writeCheckpoint } from "./checkpoint.ts";
import { decodeToF32, encodeFromF32 } from "./dtype.ts";
import { SafetensorsFile, writeSafetensors } from "./safetensors.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sft-st-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Builds a safetensors file by hand from a header object and a data buffer. */
function rawFile(header: unknown, data: Uint8Array, lenOverride?: bigint): Buffer {
  const hb = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lenOverride ?? BigInt(hb.length));
  return Buffer.concat([len, hb, data]);
}

describe("dtype conversions", () => {
  it("round-trips exactly representable F16 and BF16 values", () => {
    const v = new Float32Array([0, -0, 1, -2.5, 0.5, 65504, 2 ** -24, Number.POSITIVE_INFINITY]);
    expect([...decodeToF32(encodeFromF32(v, "F16"), "F16")]).toEqual([...v]);
    const b = new Float32Array([0, 1, -2.5, 3.140625, 1e30, Number.NEGATIVE_INFINITY]);
    expect([...decodeToF32(encodeFromF32(b, "BF16"), "BF16")]).toEqual([
      ...decodeToF32(encodeFromF32(b, "BF16"), "BF16"),
    ]);
    expect(decodeToF32(encodeFromF32(new Float32Array([3.140625]), "BF16"), "BF16")[0]).toBe(3.140625);
  });

  it("rounds to nearest even", () => {
    // 1 + 2^-11 is halfway between two halves: rounds to 1 (even).
    expect(decodeToF32(encodeFromF32(new Float32Array([1 + 2 ** -11]), "F16"), "F16")[0]).toBe(1);
    expect(decodeToF32(encodeFromF32(new Float32Array([1 + 3 * 2 ** -11]), "F16"), "F16")[0]).toBe(
      1 + 2 ** -9,
    );
    // bf16 has 7 mantissa bits.
    expect(decodeToF32(encodeFromF32(new Float32Array([1 + 2 ** -8]), "BF16"), "BF16")[0]).toBe(1);
    expect(decodeToF32(encodeFromF32(new Float32Array([1 + 3 * 2 ** -8]), "BF16"), "BF16")[0]).toBe(
      1 + 2 ** -6,
    );
  });
});

describe("safetensors", () => {
  it("writes and reads F32, F16 and BF16 tensors", async () => {
    const p = join(dir, "a.safetensors");
    const a = Float32Array.from({ length: 6 }, (_, i) => i - 2.5);
    await writeSafetensors(
      p,
      [
        { name: "a", shape: [2, 3], data: a },
        { name: "b", shape: [4], data: () => new Float32Array([1, 2, 3, 4]), dtype: "F16" },
        { name: "c", shape: [2], data: new Float32Array([0.5, -8]), dtype: "BF16" },
      ],
      { metadata: { format: "pt" } },
    );
    const f = await SafetensorsFile.open(p);
    expect(f.metadata).toEqual({ format: "pt" });
    expect(f.info("b")).toMatchObject({ dtype: "F16", shape: [4] });
    expect([...(await f.readF32("a", [2, 3]))]).toEqual([...a]);
    expect([...(await f.readF32("b"))]).toEqual([1, 2, 3, 4]);
    expect([...(await f.readF32("c"))]).toEqual([0.5, -8]);
    await expect(f.readF32("a", [3, 2])).rejects.toThrow(/tensor "a" has shape \[2, 3\], expected \[3, 2\]/);
    await f.close();
    // Header is 8-byte aligned and no temp file is left behind.
    const buf = await readFile(p);
    expect(Number(buf.readBigUInt64LE(0)) % 8).toBe(0);
    expect((await readdir(dir)).filter((n) => n.includes(".tmp"))).toEqual([]);
  });

  const bad: [string, Buffer, RegExp][] = [
    ["too short", Buffer.alloc(4), /too short/],
    ["header past end", rawFile({}, new Uint8Array(0), 1n << 40n), /header length .* past the end/],
    [
      "not json",
      Buffer.concat([Buffer.from([3, 0, 0, 0, 0, 0, 0, 0]), Buffer.from("{{{")]),
      /not valid JSON/,
    ],
    [
      "unknown dtype",
      rawFile({ x: { dtype: "Q4", shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)),
      /tensor "x": unknown dtype "Q4"/,
    ],
    [
      "out of range",
      rawFile({ x: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8)),
      /tensor "x": data_offsets \[0, 16\] out of range/,
    ],
    [
      "size mismatch",
      rawFile({ x: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)),
      /shape \[3\] of F32 needs 12 bytes/,
    ],
    [
      "overlap",
      rawFile(
        {
          x: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
          y: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
        },
        new Uint8Array(12),
      ),
      /"x" and "y" overlap/,
    ],
  ];
  for (const [what, buf, re] of bad) {
    it(`rejects a corrupt file: ${what}`, async () => {
      const p = join(dir, `bad-${what.replace(/ /g, "-")}.safetensors`);
      await writeFile(p, buf);
      await expect(SafetensorsFile.open(p)).rejects.toThrow(re);
    });
  }

  it("opens files with non-float tensors but refuses to read those as floats", async () => {
    const p = join(dir, "ints.safetensors");
    await writeFile(
      p,
      rawFile(
        {
          ids: { dtype: "I64", shape: [2], data_offsets: [0, 16] },
          w: { dtype: "F32", shape: [1], data_offsets: [16, 20] },
        },
        new Uint8Array(20),
      ),
    );
    const f = await SafetensorsFile.open(p);
    expect([...(await f.readF32("w"))]).toEqual([0]);
    await expect(f.readF32("ids")).rejects.toThrow(/tensor "ids" has dtype I64; only F32, F16 and BF16/);
    await f.close();
  });

  it("writes shards with an index and reads them back", async () => {
    const d = join(dir, "sharded");
    const tensors = Array.from({ length: 5 }, (_, i) => ({
      name: `w${i}`,
      shape: [10],
      data: Float32Array.from({ length: 10 }, (_, j) => i * 10 + j),
    }));
    const files = await writeCheckpoint(d, tensors, { maxShardBytes: 100 });
    expect(files).toContain(INDEX_FILE);
    expect(files.length).toBe(4);
    const ck = await Checkpoint.open(d);
    expect(ck.names().sort()).toEqual(["w0", "w1", "w2", "w3", "w4"]);
    expect((await ck.readF32("w3", [10]))[2]).toBe(32);
    await expect(ck.readF32("w9", [3, 4])).rejects.toThrow(
      /tensor "w9" \(expected shape \[3, 4\]\) is missing/,
    );
    await ck.close();
  });
});

describe("writeSafetensors refuses non-finite values", () => {
  it("names the file, tensor and index of a NaN or infinity, and leaves no file", async () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const path = join(dir, `nonfinite-${String(bad)}.safetensors`);
      const data = new Float32Array([1, 2, bad, 4]);
      await expect(writeSafetensors(path, [{ name: "w", shape: [2, 2], data }])).rejects.toThrow(
        `${path}: tensor "w" holds ${bad} at index 2; non-finite values are never written`,
      );
      expect((await readdir(dir)).filter((f) => f.startsWith(`nonfinite-${String(bad)}`))).toEqual([]);
    }
  });
});
