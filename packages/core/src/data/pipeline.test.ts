import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SourceSchema } from "../recipe/schema/data.ts";
import { fakeDecode, fakeEncode, fakeEncodeCompletion } from "./fake-encoder.ts";
import { countBySource } from "./mix/mix.ts";
import { type DataPipelineOptions, mixEpoch, prepareData } from "./pipeline.ts";
import { formatProblem } from "./readers/index.ts";

function tmp(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "sft-pipe-"));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join("\n");
const alpacaRows = (n: number, prefix = "q") =>
  Array.from({ length: n }, (_, i) => ({ instruction: `${prefix}${i}`, output: `answer number ${i}` }));

function opts(
  baseDir: string,
  sources: Record<string, unknown>,
  extra: Partial<DataPipelineOptions> = {},
): DataPipelineOptions {
  return {
    baseDir,
    sources: Object.fromEntries(Object.entries(sources).map(([k, v]) => [k, SourceSchema.parse(v)])),
    seed: 7,
    cacheDir: null,
    encode: fakeEncode,
    encodeCompletion: fakeEncodeCompletion,
    cacheKeyExtra: "fake",
    maxLength: 512,
    overLength: "truncate",
    ...extra,
  };
}

describe("prepareData", () => {
  it("tokenizes several formats and reports rows, tokens and trained tokens", async () => {
    const dir = tmp({
      "a.jsonl": jsonl(alpacaRows(10)),
      "c.csv": "text\nhello world\nsecond\n",
      "m.json": JSON.stringify({
        data: [
          {
            messages: [
              { role: "user", content: "u" },
              { role: "assistant", content: "a" },
            ],
          },
        ],
      }),
    });
    const p = await prepareData(
      opts(dir, {
        alpaca: { path: "a.jsonl", format: "alpaca" },
        text: { path: "c.csv", format: "completion" },
        chat: { path: "m.json", format: "messages" },
      }),
    );
    expect(p.problems).toEqual([]);
    expect(p.reports.map((r) => [r.name, r.rows, r.trainRows])).toEqual([
      ["alpaca", 10, 10],
      ["text", 2, 2],
      ["chat", 1, 1],
    ]);
    const s = p.train.alpaca![3]!;
    expect(fakeDecode(s.inputIds)).toBe("user: q3\nassistant: answer number 3\n");
    expect(s.origin).toMatchObject({ line: 4, index: 3, file: join(dir, "a.jsonl") });
    const chatReport = p.reports[2]!;
    expect(chatReport.trainedTokens).toBe(2); // "a" and the end token
    expect(chatReport.tokens).toBe(p.train.chat![0]!.inputIds.length);
    expect(p.train.chat![0]!.origin).toEqual({ file: join(dir, "m.json"), index: 0 });
  });

  it("collects bad rows with file:line and field under `error`, counts them under `skip`", async () => {
    const rows = [
      {
        conversations: [
          { from: "human", value: "a" },
          { from: "gpt", value: "b" },
        ],
      },
      {
        conversations: [
          { from: "human", value: "a" },
          { from: "gpt", value: "b" },
          { from: "gtp", value: "c" },
        ],
      },
    ];
    const dir = tmp({ "s.jsonl": `${jsonl(rows)}\n{not json}\n` });
    const strict = await prepareData(opts(dir, { s: { path: "s.jsonl", format: "sharegpt" } }));
    expect(strict.problems.map((q) => formatProblem({ ...q, file: "s.jsonl" }))).toEqual([
      's.jsonl:2: field "conversations[2].from": unknown role "gtp" (known: human, user, gpt, assistant, system, observation, tool, function_call; map it with tags.roles) (source "s")',
      expect.stringMatching(/^s\.jsonl:3: invalid JSON/),
    ]);
    expect(strict.reports[0]).toMatchObject({ rows: 3, badRows: 2, trainRows: 1 });
    const lax = await prepareData(
      opts(dir, { s: { path: "s.jsonl", format: "sharegpt", onBadRow: "skip" } }),
    );
    expect(lax.problems).toEqual([]);
    expect(lax.reports[0]).toMatchObject({ badRows: 2, trainRows: 1 });
  });

  it("reports missing files and empty globs, and an encoder failure as a bad row", async () => {
    const dir = tmp({ "ok.jsonl": jsonl(alpacaRows(2)) });
    const p = await prepareData(
      opts(
        dir,
        {
          a: { path: ["ok.jsonl", "missing.jsonl"], format: "alpaca" },
          b: { path: "none/*.parquet", format: "alpaca" },
        },
        {
          encode: (c) => {
            if (c.messages[0]?.content === "q1") throw new Error("template exploded");
            return fakeEncode(c);
          },
        },
      ),
    );
    expect(p.problems.map((q) => q.message)).toEqual([
      expect.stringContaining("no such file"),
      "cannot tokenize: template exploded",
      expect.stringContaining("matched no file"),
    ]);
    expect(p.reports.map((r) => r.trainRows)).toEqual([1, 0]);
  });

  it("applies filters before mixing and counts each", async () => {
    const rows = [
      { instruction: "a", output: "same" },
      { instruction: "a", output: "same" }, // duplicate
      { instruction: "a", output: "   same  " }, // duplicate after whitespace normalisation
      { instruction: "b", output: " " }, // empty answer
      { instruction: "c", output: "x" }, // too short
      { instruction: "d", output: "y".repeat(200) }, // too long
      { instruction: "skip me", output: "fine answer" }, // where
      { instruction: "e", output: "kept answer" },
    ];
    const dir = tmp({ "a.jsonl": jsonl(rows) });
    const p = await prepareData(
      opts(dir, {
        a: {
          path: "a.jsonl",
          format: "alpaca",
          filters: {
            dedupe: true,
            minChars: 4,
            maxChars: 100,
            where: (r: Record<string, unknown>) => r.instruction !== "skip me",
          },
        },
      }),
    );
    expect(p.reports[0]!.filtered).toEqual({ dedupe: 2, dropEmpty: 1, minChars: 1, maxChars: 1, where: 1 });
    expect(p.train.a!.map((s) => s.origin.line)).toEqual([1, 8]);
  });

  it("keeps empty answers when dropEmpty is off, and stops at maxRows", async () => {
    const dir = tmp({ "a.jsonl": jsonl([{ instruction: "x", output: "" }, ...alpacaRows(5)]) });
    const p = await prepareData(
      opts(dir, { a: { path: "a.jsonl", format: "alpaca", filters: { dropEmpty: false }, maxRows: 3 } }),
    );
    expect(p.reports[0]).toMatchObject({ rows: 3, trainRows: 3, filtered: {} });
  });

  it("truncates, drops or reports over-length samples", async () => {
    const rows = [
      { instruction: "short", output: "ok" },
      { instruction: "long", output: "z".repeat(100) },
      { instruction: "x".repeat(100), output: "y" },
    ];
    const dir = tmp({ "a.jsonl": jsonl(rows) });
    const src = { a: { path: "a.jsonl", format: "alpaca" } };
    const t = await prepareData(opts(dir, src, { maxLength: 60, overLength: "truncate" }));
    // The third row's answer lies past the limit: truncation leaves nothing to train, so it is dropped and counted.
    expect(t.reports[0]).toMatchObject({
      trainRows: 2,
      longest: 60,
      overLength: { truncated: 2 },
      filtered: { emptyAfterTruncate: 1 },
    });
    expect(t.train.a!.every((s) => s.inputIds.length <= 60 && s.labels.length === s.inputIds.length)).toBe(
      true,
    );
    const d = await prepareData(opts(dir, src, { maxLength: 60, overLength: "drop" }));
    expect(d.reports[0]).toMatchObject({ trainRows: 1, overLength: { dropped: 2 } });
    expect(d.reports[0]!.longestBeforeLimit).toBeGreaterThan(100);
    const e = await prepareData(opts(dir, src, { maxLength: 60, overLength: "error" }));
    expect(e.problems.map((q) => formatProblem({ ...q, file: "a.jsonl" }))).toEqual([
      expect.stringMatching(/^a\.jsonl:2: \d+ tokens, over maxLength 60/),
      expect.stringMatching(/^a\.jsonl:3: /),
    ]);
  });

  it("splits train/eval per source with no row in both, deterministically", async () => {
    const dir = tmp({ "a.jsonl": jsonl(alpacaRows(100)), "b.jsonl": jsonl(alpacaRows(30, "b")) });
    const o = opts(dir, {
      a: { path: "a.jsonl", format: "alpaca", eval: 0.1 },
      b: { path: "b.jsonl", format: "alpaca", eval: 4 },
    });
    const p = await prepareData(o);
    expect(p.reports.map((r) => [r.trainRows, r.evalRows])).toEqual([
      [90, 10],
      [26, 4],
    ]);
    for (const name of ["a", "b"]) {
      const train = new Set(p.train[name]!.map((s) => s.origin.index));
      const evalIdx = p.eval[name]!.map((s) => s.origin.index);
      expect(evalIdx.filter((i) => train.has(i))).toEqual([]);
      expect(train.size + evalIdx.length).toBe(name === "a" ? 100 : 30);
      const trainText = new Set(p.train[name]!.map((s) => fakeDecode(s.inputIds)));
      expect(p.eval[name]!.filter((s) => trainText.has(fakeDecode(s.inputIds)))).toEqual([]);
    }
    const again = await prepareData(o);
    expect(again.eval.a!.map((s) => s.origin.index)).toEqual(p.eval.a!.map((s) => s.origin.index));
    const other = await prepareData({ ...o, seed: 8 });
    expect(other.eval.a!.map((s) => s.origin.index)).not.toEqual(p.eval.a!.map((s) => s.origin.index));
  });

  it("reports an eval count larger than the source", async () => {
    const dir = tmp({ "a.jsonl": jsonl(alpacaRows(3)) });
    const p = await prepareData(opts(dir, { a: { path: "a.jsonl", format: "alpaca", eval: 5 } }));
    expect(p.problems[0]?.message).toMatch(/eval asks for 5 rows but the source has 3/);
    expect(p.reports[0]).toMatchObject({ trainRows: 1, evalRows: 2 });
  });
});

describe("mixEpoch", () => {
  it("realises weights and sample counts, deterministically, reshuffled per epoch", async () => {
    const dir = tmp({
      "a.jsonl": jsonl(alpacaRows(40, "a")),
      "b.jsonl": jsonl(alpacaRows(10, "b")),
      "c.jsonl": jsonl(alpacaRows(20, "c")),
    });
    const p = await prepareData(
      opts(dir, {
        a: { path: "a.jsonl", format: "alpaca", weight: 0.5 },
        b: { path: "b.jsonl", format: "alpaca", weight: 2.5 },
        c: { path: "c.jsonl", format: "alpaca", samples: 7 },
      }),
    );
    expect(p.reports.map((r) => [r.samplesPerEpoch, r.weight])).toEqual([
      [20, 0.5],
      [25, 2.5],
      [7, 0.35],
    ]);
    const e0 = mixEpoch(p, 0, 7);
    const count = countBySource;
    expect(count(e0)).toEqual({ a: 20, b: 25, c: 7 });
    // Downsampling draws without replacement; upsampling repeats every row twice, then 5 distinct ones.
    const aIdx = e0.filter((s) => s.source === "a").map((s) => s.origin.index);
    expect(new Set(aIdx).size).toBe(20);
    const bCounts = new Map<number, number>();
    for (const s of e0.filter((x) => x.source === "b"))
      bCounts.set(s.origin.index, (bCounts.get(s.origin.index) ?? 0) + 1);
    expect([...bCounts.values()].sort()).toEqual([2, 2, 2, 2, 2, 3, 3, 3, 3, 3]);
    const key = (xs: typeof e0) => xs.map((s) => `${s.source}${s.origin.index}`).join(",");
    expect(key(mixEpoch(p, 0, 7))).toBe(key(e0));
    const e1 = mixEpoch(p, 1, 7);
    expect(count(e1)).toEqual({ a: 20, b: 25, c: 7 });
    expect(key(e1)).not.toBe(key(e0));
    expect(key(mixEpoch(p, 0, 8))).not.toBe(key(e0));
  });
});

describe("prepareData robustness", () => {
  it("turns a throwing where predicate into a bad row, and an unwritable cache into a warning", async () => {
    const dir = tmp({ "a.jsonl": jsonl(alpacaRows(3)), blocker: "a file where the cache folder should be" });
    const p = await prepareData(
      opts(
        dir,
        {
          a: {
            path: "a.jsonl",
            format: "alpaca",
            filters: {
              where: (r: Record<string, unknown>) => {
                if (r.instruction === "q1") throw new Error("boom");
                return true;
              },
            },
          },
        },
        { cacheDir: join(dir, "blocker") },
      ),
    );
    expect(p.problems.map((q) => [q.line, q.message])).toEqual([[2, "filters.where threw: boom"]]);
    expect(p.reports[0]).toMatchObject({ trainRows: 2, badRows: 1 });
    expect(p.warnings).toEqual([expect.stringContaining("cache not written")]);
  });
});
