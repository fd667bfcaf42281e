// Each detector on a dataset with planted defects: precision and recall against the planted rows.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SourceSchema } from "../../recipe/schema/data.ts";
import { fakeEncode, fakeEncodeCompletion } from "../fake-encoder.ts";
import { prepareData } from "../pipeline.ts";
import { plantedData } from "./planted-data.ts";
import { whereOf } from "./refs.ts";
import { buildQualityReport } from "./report.ts";
import type { Finding, QualityReport } from "./types.ts";

let dir: string;
let report: QualityReport;
/** "file:line" of the rows the pipeline put in the eval and train splits. */
const split = { eval: new Set<string>(), train: new Set<string>() };
const planted = plantedData();
const sources = {
  a: SourceSchema.parse({ path: "a.jsonl", format: "alpaca", eval: 0.2 }),
  b: SourceSchema.parse({ path: "b.jsonl", format: "alpaca" }),
  tools: SourceSchema.parse({
    path: "tools.jsonl",
    format: "messages",
    tags: { role: "role", content: "content" },
  }),
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sft-quality-"));
  for (const [name, lines] of Object.entries(planted.files)) writeFileSync(join(dir, name), lines.join("\n"));
  const prepared = await prepareData({
    baseDir: dir,
    sources,
    seed: 1,
    cacheDir: null,
    encode: fakeEncode,
    encodeCompletion: fakeEncodeCompletion,
    cacheKeyExtra: "",
    maxLength: 2000,
    overLength: "truncate",
  });
  for (const [set, groups] of [
    [split.eval, prepared.eval],
    [split.train, prepared.train],
  ] as const) {
    for (const s of Object.values(groups).flat())
      set.add(`${s.origin.file.slice(dir.length + 1)}:${s.origin.line}`);
  }
  report = await buildQualityReport({ recipe: "planted", baseDir: dir, sources, seed: 1, prepared });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every flagged row of a detector, as file:line. */
function flagged(id: string): Set<string> {
  const byId = new Map<number, string>();
  // Ids are positions across sources in read order; rebuild their places from the examples' source files.
  let next = 0;
  for (const [file, lines] of Object.entries(planted.files)) {
    for (let i = 0; i < lines.length; i++) byId.set(next++, `${file}:${i + 1}`);
  }
  const all: Finding[] = [...report.findings, ...(report.mix?.findings ?? [])];
  return new Set(all.filter((f) => f.id === id).flatMap((f) => f.ids.map((i) => byId.get(i)!)));
}

function score(id: string): { precision: number; recall: number; flagged: number; planted: number } {
  const got = flagged(id);
  const want = new Set(planted.truth[id] ?? []);
  const hit = [...got].filter((w) => want.has(w)).length;
  return {
    precision: got.size ? hit / got.size : 1,
    recall: want.size ? hit / want.size : 1,
    flagged: got.size,
    planted: want.size,
  };
}

describe("quality detectors on planted defects", () => {
  const ids = Object.keys(planted.truth);
  it.each(ids)("%s: precision and recall 1.0", (id) => {
    const s = score(id);
    expect(s, `${id}: flagged ${[...flagged(id)].join(" ")}`).toMatchObject({ precision: 1, recall: 1 });
  });

  it("duplicates/leakage: precision and recall 1.0 on planted copies that straddle the split", () => {
    const want = new Set<string>();
    for (const [orig, copy] of planted.pairs) {
      if (split.eval.has(copy) && split.train.has(orig)) want.add(copy);
      if (split.eval.has(orig) && split.train.has(copy)) want.add(orig);
    }
    expect(want.size).toBeGreaterThan(0);
    expect(flagged("duplicates/leakage")).toEqual(want);
  });

  it("names a filter on every finding and places every example as file:line", () => {
    for (const f of report.findings) {
      expect(f.filter.setting.length).toBeGreaterThan(0);
      for (const e of f.examples) expect(e.where).toMatch(/^[\w.]+\.jsonl:\d+$/);
    }
  });

  it("reports the mix: shares against the weights' target", () => {
    const mix = report.mix!;
    for (const s of mix.sources) expect(Math.abs(s.realised - s.target)).toBeLessThan(0.02);
    expect(mix.samples).toBe(mix.sources.reduce((a, s) => a + s.trainRows, 0));
  });

  it("places Parquet-style rows by index", () => {
    const row = {
      id: 0,
      source: "s",
      file: join(dir, "x.parquet"),
      index: 4,
      kind: "chat" as const,
      prompt: "",
      system: "",
      answer: "",
      lastAnswer: "",
      text: "",
      turns: 1,
    };
    expect(whereOf(row, dir)).toBe("x.parquet#row 4");
  });
});
