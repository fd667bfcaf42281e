// The report over real third-party datasets (../shared/fixtures): every row read, findings placed, known
// defects of these sets found.
import { describe, expect, it } from "vitest";
import { SourceSchema } from "../../recipe/schema/data.ts";
import { fixture, hasSharedFixtures, sharedFixturesSkipReason } from "../../testing/fixtures.ts";
import { renderHtml } from "./html.ts";
import { buildQualityReport } from "./report.ts";
import type { QualityReport } from "./types.ts";

const sources = {
  alpaca_en: { path: "llama-factory/alpaca_en_demo.json", format: "alpaca" },
  alpaca_zh: { path: "llama-factory/alpaca_zh_demo.json", format: "alpaca" },
  glaive: { path: "llama-factory/glaive_toolcall_en_demo.json", format: "sharegpt" },
  dolly: {
    path: "litgpt-fixtures/dolly.json",
    format: "alpaca",
    columns: { input: "context", output: "response" },
  },
  unsloth: { path: "unsloth/alpaca_unsloth.json", format: "alpaca" },
  fashion: {
    path: "fashion-style-instruct/train.parquet",
    format: "alpaca",
    columns: { instruction: "input", input: "context", output: "completion" },
  },
  turkish: {
    path: "turkish-daily-dialogues-5k/validation.jsonl",
    format: "messages",
    tags: { role: "role", content: "content" },
  },
};

describe.skipIf(!hasSharedFixtures)(`quality report on real datasets (${sharedFixturesSkipReason})`, () => {
  let report: QualityReport;
  const get = (name: string) => report.sources.find((s) => s.name === name)!;
  const finding = (source: string, id: string) => get(source).findings.find((f) => f.id === id);

  it("reads every row of every format", async () => {
    report = await buildQualityReport({
      recipe: "fixtures",
      baseDir: fixture("datasets"),
      seed: 42,
      sources: Object.fromEntries(Object.entries(sources).map(([k, v]) => [k, SourceSchema.parse(v)])),
    });
    for (const s of report.sources) {
      expect(s.skipped, s.name).toBe(0);
      expect(s.analysed, s.name).toBe(s.rows);
      expect(s.analysed, s.name).toBeGreaterThan(0);
    }
  }, 30_000);

  it("places every example as file:line or file#row N, and names a filter", () => {
    for (const f of report.findings) {
      expect(f.filter.setting).not.toBe("");
      for (const e of f.examples) expect(e.where).toMatch(/^[\w./-]+(:\d+|#row \d+)$/);
    }
    for (const e of finding("fashion", "consistency/conflict")?.examples ?? [])
      expect(e.where).toMatch(/train\.parquet#row \d+$/);
    for (const e of finding("turkish", "duplicates/exact")?.examples ?? [])
      expect(e.where).toMatch(/validation\.jsonl:\d+$/);
  });

  it("finds the known defects of these sets", () => {
    // alpaca_en_demo has verbatim repeats and "As an AI" answers; unsloth's demo repeats questions reworded.
    expect(finding("alpaca_en", "duplicates/exact")?.count).toBeGreaterThanOrEqual(10);
    expect(finding("alpaca_en", "completeness/refusal")?.count).toBeGreaterThanOrEqual(10);
    expect(finding("alpaca_zh", "completeness/refusal")?.count).toBeGreaterThanOrEqual(5);
    expect(finding("unsloth", "duplicates/near")?.count).toBeGreaterThanOrEqual(20);
    expect(finding("glaive", "consistency/conflict")?.count).toBeGreaterThan(0);
    // The dolly sample has a category column: balance uses it.
    expect(get("dolly").balance.taskBy).toContain("task field");
    expect(get("turkish").balance.turns.length).toBeGreaterThan(0);
  });

  it("keeps detectors quiet where the data is clean: few completeness flags per source", () => {
    for (const s of report.sources.filter((x) => x.analysed >= 100)) {
      const flagged = s.findings
        .filter((f) => f.category === "completeness" && f.id !== "completeness/refusal")
        .reduce((a, f) => a + f.count, 0);
      expect(flagged / s.analysed, s.name).toBeLessThan(0.05);
    }
  });

  it("renders the HTML report", () => {
    const html = renderHtml(report);
    for (const name of Object.keys(sources)) expect(html).toContain(`id="src-${name}"`);
  });
});
