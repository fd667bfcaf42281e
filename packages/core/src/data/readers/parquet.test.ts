import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { countRows, type ReadItem, readRows, rowOf } from "./index.ts";
import { type Codec, type ColumnSpec, writeParquet } from "./tiny-parquet.ts";

const cols: ColumnSpec[] = [
  { name: "id", type: "int64" },
  { name: "text", type: "string" },
  {
    name: "messages",
    type: "list",
    fields: [
      { name: "role", type: "string" },
      { name: "content", type: "string" },
    ],
  },
  {
    name: "source",
    type: "struct",
    fields: [
      { name: "seed", type: "int64" },
      { name: "method", type: "string" },
    ],
  },
];
const rows = Array.from({ length: 7 }, (_, i) => ({
  id: i,
  text: i === 3 ? null : `row ${i} ünïcødé ${"x".repeat(i * 30)}`,
  messages:
    i === 5
      ? []
      : [
          { role: "user", content: `q${i}` },
          { role: "assistant", content: `a${i}` },
        ],
  source: { seed: 1000 + i, method: "synthetic" },
}));

async function read(file: string, limit?: number): Promise<ReadItem[]> {
  const out: ReadItem[] = [];
  for await (const x of readRows(file, "auto", limit === undefined ? {} : { limit })) out.push(x);
  return out;
}

describe("parquet reader on files written here", () => {
  for (const codec of ["UNCOMPRESSED", "SNAPPY", "ZSTD"] as Codec[]) {
    it(`reads ${codec} pages with nested lists and structs over several row groups`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "sft-pq-"));
      const file = join(dir, "t.parquet");
      writeFileSync(file, writeParquet(cols, rows, { codec, rowGroupSize: 3 }));
      expect(await countRows(file)).toBe(7);
      const items = await read(file);
      expect(items.map((x) => rowOf(x)?.index ?? -1)).toEqual([0, 1, 2, 3, 4, 5, 6]);
      const values = items.map((x) => rowOf(x)?.value ?? null);
      expect(values[1]).toEqual({ ...rows[1], id: 1 });
      expect(typeof values[1]?.id).toBe("number"); // INT64 BigInt -> number
      expect(values[3]?.text).toBeFalsy();
      expect(values[5]?.messages).toEqual([]);
      expect(values[6]?.source).toEqual({ seed: 1006, method: "synthetic" });
      expect(await read(file, 4)).toHaveLength(4);
    });
  }

  it("reports a damaged file as a ReadError naming it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sft-pq-"));
    const file = join(dir, "bad.parquet");
    writeFileSync(file, "PAR1 this is not parquet PAR1");
    await expect(read(file)).rejects.toThrow(/not a readable Parquet file/);
    await expect(countRows(file)).rejects.toThrow(/not a readable Parquet file/);
  });
});
