import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SourceSchema } from "../../recipe/schema/data.ts";
import { fakeEncode, fakeEncodeCompletion } from "../fake-encoder.ts";
import { type DataPipelineOptions, prepareData } from "../pipeline.ts";
import type { Conversation, TokenizedSample } from "../types.ts";
import { decodeEntry, encodeEntry } from "./codec.ts";
import { entryPath, readEntry, writeEntry } from "./store.ts";

const sample = (ids: number[], line?: number): TokenizedSample => ({
  inputIds: ids,
  labels: ids.map((x, i) => (i === 0 ? -100 : x)),
  source: "s",
  origin: line === undefined ? { file: "/f.json", index: 4 } : { file: "/f.jsonl", line, index: 2 },
});

describe("cache codec", () => {
  it("round-trips samples and metadata", () => {
    const samples = [sample([1, 2, 3], 3), sample([9]), sample([])];
    const back = decodeEntry<{ rows: number }>(encodeEntry({ rows: 3 }, samples, "s"));
    expect(back?.meta).toEqual({ rows: 3 });
    expect(back?.samples).toEqual(samples);
  });
  it("rejects truncated, corrupted or foreign bytes", () => {
    const buf = encodeEntry({ rows: 1 }, [sample([5, 6, 7], 1)], "s");
    expect(decodeEntry(buf.subarray(0, buf.length - 4))).toBeNull();
    const flipped = Buffer.from(buf);
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] ?? 0) ^ 1;
    expect(decodeEntry(flipped)).toBeNull();
    expect(decodeEntry(Buffer.from("not a cache entry at all, just some text here............"))).toBeNull();
  });
});

describe("cache store", () => {
  it("ignores a partial entry at the final name and a leftover temp file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sft-cache-"));
    await writeEntry(dir, "k1", { rows: 2 }, [sample([1, 2], 1), sample([3, 4], 2)], "s");
    const full = readFileSync(entryPath(dir, "k1"));
    expect((await readEntry(dir, "k1"))?.samples).toHaveLength(2);
    // A process killed mid-write (no temp + rename): a torn file under the final name.
    writeFileSync(entryPath(dir, "k2"), full.subarray(0, Math.floor(full.length / 2)));
    expect(await readEntry(dir, "k2")).toBeNull();
    // A process killed before the rename: only the temp file exists; the key still misses.
    writeFileSync(`${entryPath(dir, "k3")}.tmp-123-abcd`, full);
    expect(await readEntry(dir, "k3")).toBeNull();
    expect(readdirSync(join(dir, "data")).filter((f) => f.includes(".tmp-") && !f.includes("k3"))).toEqual(
      [],
    );
  });
});

describe("cache in prepareData", () => {
  function setup() {
    const dir = mkdtempSync(join(tmpdir(), "sft-cache-pipe-"));
    const rows = Array.from({ length: 20 }, (_, i) =>
      JSON.stringify({ instruction: `q${i}`, output: `a${i}` }),
    );
    writeFileSync(join(dir, "a.jsonl"), rows.join("\n"));
    let calls = 0;
    const encode = (c: Conversation) => {
      calls++;
      return fakeEncode(c);
    };
    const o = (extra: Partial<DataPipelineOptions> = {}): DataPipelineOptions => ({
      baseDir: dir,
      sources: { a: SourceSchema.parse({ path: "a.jsonl", format: "alpaca", eval: 0.25 }) },
      seed: 1,
      cacheDir: join(dir, ".sft-cache"),
      encode,
      encodeCompletion: fakeEncodeCompletion,
      cacheKeyExtra: "tok-v1",
      maxLength: 128,
      overLength: "truncate",
      ...extra,
    });
    return { dir, o, calls: () => calls };
  }

  it("does not re-tokenize on a second run and gives the same result", async () => {
    const { o, calls } = setup();
    const first = await prepareData(o());
    expect(first.cacheHit).toBe(false);
    expect(calls()).toBe(20);
    const second = await prepareData(o());
    expect(second.cacheHit).toBe(true);
    expect(calls()).toBe(20);
    expect(second.train).toEqual(first.train);
    expect(second.eval).toEqual(first.eval);
    expect({ ...second.reports[0], cached: false }).toEqual(first.reports[0]);
    // Seed and eval act after the cache: still a hit.
    expect((await prepareData(o({ seed: 2 }))).cacheHit).toBe(true);
  });

  it("misses when the tokenizer fingerprint, max length, a setting or a file's content changes", async () => {
    const { dir, o, calls } = setup();
    await prepareData(o());
    expect((await prepareData(o({ cacheKeyExtra: "tok-v2" }))).cacheHit).toBe(false);
    expect((await prepareData(o({ maxLength: 64 }))).cacheHit).toBe(false);
    const sources = {
      a: SourceSchema.parse({ path: "a.jsonl", format: "alpaca", filters: { minChars: 3 } }),
    };
    expect((await prepareData(o({ sources }))).cacheHit).toBe(false);
    const before = calls();
    writeFileSync(
      join(dir, "a.jsonl"),
      `${readFileSync(join(dir, "a.jsonl"), "utf8")}\n{"instruction":"new","output":"row"}`,
    );
    const changed = await prepareData(o());
    expect(changed.cacheHit).toBe(false);
    expect(calls() - before).toBe(21);
    expect(changed.reports[0]!.rows).toBe(21);
  });

  it("does not write an entry larger than its disk's free space: a warning names it and the bytes needed", async () => {
    const { dir, o } = setup();
    process.env.SFTKIT_FAULT_FREE_BYTES = "100";
    let r: Awaited<ReturnType<typeof prepareData>>;
    try {
      r = await prepareData(o());
    } finally {
      delete process.env.SFTKIT_FAULT_FREE_BYTES;
    }
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(
      /^source "a": cache not written to .+: cannot write .+\/\.sft-cache\/data\/[0-9a-f]+\.bin: no space left on the device \(ENOSPC\); [\d.]+ KiB needed, 100 B free there$/,
    );
    expect(r.reports[0]).toMatchObject({ cacheKey: null, cacheBytes: 0 });
    const data = join(dir, ".sft-cache", "data");
    expect(existsSync(data) ? readdirSync(data) : []).toEqual([]);
  });

  it("re-tokenizes over a damaged entry instead of failing", async () => {
    const { dir, o, calls } = setup();
    await prepareData(o());
    const data = join(dir, ".sft-cache", "data");
    for (const f of readdirSync(data)) writeFileSync(join(data, f), "garbage");
    const again = await prepareData(o());
    expect(again.cacheHit).toBe(false);
    expect(calls()).toBe(40);
    expect((await prepareData(o())).cacheHit).toBe(true);
  });
});
