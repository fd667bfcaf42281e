import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fixture, hasSharedFixtures, sharedFixturesSkipReason } from "../../testing/fixtures.ts";
import { countRows, formatProblem, type ReadItem, readRows, resolveFiles, rowOf } from "./index.ts";

function tmp(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "sft-readers-"));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

async function all(it: AsyncIterable<ReadItem>): Promise<ReadItem[]> {
  const out: ReadItem[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe("readers", () => {
  it("streams JSONL with 1-based lines, skipping blank lines and naming bad ones", async () => {
    const dir = tmp({ "a.jsonl": '\uFEFF{"text":"one"}\n\n{"text":"two"}\n{broken\n[1,2]\n{"text":"last"}' });
    const items = await all(readRows(join(dir, "a.jsonl")));
    expect(items.map(lineAndText)).toEqual([
      [1, "one"],
      [3, "two"],
      [4, "invalid JSON"],
      [5, "expected a J"],
      [6, "last"],
    ]);
    expect(await countRows(join(dir, "a.jsonl"))).toBe(5);
  });

  it("reads JSON arrays, objects holding one array, and a single-row object", async () => {
    const dir = tmp({
      "arr.json": '[{"a":1},{"a":2},"nope"]',
      "wrapped.json": '{"version":1,"data":[{"a":1}]}',
      "single.json": '{"conversations":[{"from":"human","value":"hi"}]}',
      "two.json": '{"x":[1],"y":[2]}',
    });
    const arr = await all(readRows(join(dir, "arr.json")));
    expect(arr.map((i) => i.kind)).toEqual(["row", "row", "bad"]);
    expect(arr[2]).toMatchObject({ index: 2, message: expect.stringContaining("expected a JSON object") });
    expect((await all(readRows(join(dir, "wrapped.json")))).length).toBe(1);
    const single = await all(readRows(join(dir, "single.json"), "auto", { rowKeys: ["conversations"] }));
    expect(single).toHaveLength(1);
    expect(Array.isArray(rowOf(single[0]!)?.value.conversations)).toBe(true);
    await expect(all(readRows(join(dir, "two.json")))).rejects.toThrow(/found 2 \(x, y\)/);
    expect(await countRows(join(dir, "arr.json"))).toBe(3);
  });

  it("locates a CSV quote left open at the record that opens it, not at the end of the file", async () => {
    const dir = tmp({ "q.csv": 'instruction,output\nhello,world\n\n"open quote,oops\nbye,ok\nmore,rows\n' });
    const err = await all(readRows(join(dir, "q.csv"))).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: "ReadError", line: 4 });
    expect((err as Error).message).toBe(
      "CSV: the quote that opens the record on line 4 is never closed (the file ends inside it)",
    );
  });

  it("reads CSV with a header, quoted newlines, and the line each record starts on", async () => {
    const dir = tmp({ "t.csv": 'instruction,output\nhello,"multi\nline"\nbye,ok\n' });
    const items = await all(readRows(join(dir, "t.csv")));
    expect(
      items.map((i) => {
        const row = rowOf(i);
        return row && [row.line, row.value.output];
      }),
    ).toEqual([
      [2, "multi\nline"],
      [4, "ok"],
    ]);
    expect(await countRows(join(dir, "t.csv"))).toBe(2);
  });

  it("honours a row limit", async () => {
    const dir = tmp({ "a.jsonl": '{"a":1}\n{"a":2}\n{"a":3}\n' });
    expect(await all(readRows(join(dir, "a.jsonl"), "auto", { limit: 2 }))).toHaveLength(2);
  });

  it("rejects unknown extensions unless fileType is given", async () => {
    const dir = tmp({ "data.txt": '{"a":1}\n' });
    await expect(all(readRows(join(dir, "data.txt")))).rejects.toThrow(/unknown file type/);
    expect(await all(readRows(join(dir, "data.txt"), "jsonl"))).toHaveLength(1);
  });

  it("resolves a file, a folder, a glob and a list; reports what matched nothing", async () => {
    const dir = tmp({ "d/a.jsonl": "", "d/sub/b.json": "[]", "d/notes.md": "", "c.csv": "" });
    const folder = await resolveFiles(dir, "d");
    expect(folder.files.map((f) => f.slice(dir.length + 1))).toEqual(["d/a.jsonl", "d/sub/b.json"]);
    const globbed = await resolveFiles(dir, ["d/**/*.json", "c.csv", "c.csv"]);
    expect(globbed.files.map((f) => f.slice(dir.length + 1))).toEqual(["c.csv", "d/sub/b.json"]);
    const absolute = await resolveFiles("/", join(dir, "d/*.jsonl"));
    expect(absolute.files).toEqual([join(dir, "d/a.jsonl")]);
    const missing = await resolveFiles(dir, ["nope.jsonl", "x/*.parquet"]);
    expect(missing.files).toEqual([]);
    expect(missing.missing.map((m) => m.message)).toEqual([
      expect.stringContaining("no such file"),
      expect.stringContaining('glob "x/*.parquet" matched no file'),
    ]);
  });

  it("formats problems with file:line, file#index and field", () => {
    expect(
      formatProblem({
        file: "a.jsonl",
        line: 3,
        field: "conversations[2].from",
        message: 'unknown role "gtp"',
      }),
    ).toBe('a.jsonl:3: field "conversations[2].from": unknown role "gtp"');
    expect(formatProblem({ file: "b.parquet", index: 7, message: "x" })).toBe("b.parquet#7: x");
  });
});

describe.skipIf(!hasSharedFixtures)(
  hasSharedFixtures ? "readers on shared fixtures" : sharedFixturesSkipReason,
  () => {
    it("reads zstd Parquet with nested list<struct> and struct columns", async () => {
      const file = fixture("datasets/turkish-daily-dialogues-5k/test.parquet");
      const items = await all(readRows(file));
      expect(items.length).toBe(await countRows(file));
      const first = items[0];
      if (first?.kind !== "row") throw new Error("expected a row");
      const messages = first.row.value.messages as { role: string; content: string }[];
      expect(messages[0]?.role).toBe("user");
      expect(typeof (first.row.value.source as Record<string, unknown>).seed).toBe("number");
      expect(first.row.index).toBe(0);
    });

    it("reads snappy Parquet over several row groups with stable row indices", async () => {
      const file = fixture("datasets/fashion-style-instruct/train.parquet");
      const n = await countRows(file);
      expect(n).toBe(3193);
      const items = await all(readRows(file));
      expect(items.map((i) => rowOf(i)?.index ?? -1)).toEqual(Array.from({ length: n }, (_, i) => i));
      const limited = await all(readRows(file, "auto", { limit: 10 }));
      expect(limited).toHaveLength(10);
    });

    it("reads the JSONL twin of the Parquet rows identically", async () => {
      const pq = await all(readRows(fixture("datasets/turkish-daily-dialogues-5k/validation.parquet")));
      const jl = await all(readRows(fixture("datasets/turkish-daily-dialogues-5k/validation.jsonl")));
      expect(pq.length).toBe(jl.length);
      const a = pq[5];
      const b = jl[5];
      expect(rowOf(a!)?.value.messages).toBeDefined();
      expect(rowOf(a!)?.value.messages).toEqual(rowOf(b!)?.value.messages);
    });
  },
);

/** A row's line and text, or a bad row's line and the start of its message. */
function lineAndText(i: ReadItem): [number | undefined, unknown] {
  switch (i.kind) {
    case "row":
      return [i.row.line, i.row.value.text];
    case "bad":
      return [i.line, i.message.slice(0, 12)];
  }
}
