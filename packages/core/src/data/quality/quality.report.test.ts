// Source-level detectors (leading words, clusters, task balance), the HTML/JSON outputs, and bad input.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FiltersSchema, languageCodes, SourceSchema } from "../../recipe/schema/data.ts";
import { truncation } from "./checks.ts";
import { renderHtml } from "./html.ts";
import { detectLanguage } from "./language.ts";
import { bandsFor } from "./minhash.ts";
import { buildQualityReport, reportJson } from "./report.ts";
import type { QualityReport } from "./types.ts";

let dir: string;
let report: QualityReport;
const skewLines: string[] = [];
const planted = { leading: new Set<number>(), task: new Set<number>() };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sft-quality-report-"));
  // 100 rows: 70 start with "Translate" and carry task "translation" (the planted skew), 30 vary.
  const verbs = ["Explain", "Describe", "List", "Compare", "Summarize", "Outline"];
  for (let i = 0; i < 100; i++) {
    const skew = i % 10 < 7;
    const instruction = skew
      ? `Translate sentence number ${i} about topic ${i * 7} into German.`
      : `${verbs[i % verbs.length]} item ${i} of group ${i * 3} for the review.`;
    skewLines.push(
      JSON.stringify({
        instruction,
        output: `Answer ${i} covers the point ${i * 13} and ends here.`,
        task: skew ? "translation" : `task-${i % 3}`,
      }),
    );
    if (skew) {
      planted.leading.add(i);
      planted.task.add(i);
    }
  }
  writeFileSync(join(dir, "skew.jsonl"), skewLines.join("\n"));
  writeFileSync(join(dir, "bad.jsonl"), '{"instruction": "a", "output": "b"}\nnot json\n{"output": 3}\n');
  report = await buildQualityReport({
    recipe: "skew",
    baseDir: dir,
    seed: 3,
    sources: {
      skew: SourceSchema.parse({ path: "skew.jsonl", format: "alpaca" }),
      bad: SourceSchema.parse({ path: "bad.jsonl", format: "alpaca", onBadRow: "skip" }),
      missing: SourceSchema.parse({ path: "nope/*.jsonl", format: "alpaca" }),
    },
  });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ids = (id: string) => new Set(report.findings.filter((f) => f.id === id).flatMap((f) => f.ids));

describe("source-level detectors", () => {
  it("diversity/leading-word flags exactly the rows of the dominant leading word", () => {
    expect(ids("diversity/leading-word")).toEqual(planted.leading);
    const s = report.sources[0]!;
    expect(s.diversity.leadingWords[0]).toMatchObject({ name: "translate", count: 70 });
    expect(s.diversity.leadingEntropy).toBeLessThan(0.6);
  });

  it("balance/task uses the rows' task field and flags the dominant task", () => {
    expect(report.sources[0]!.balance.taskBy).toContain("task field");
    expect(ids("balance/task")).toEqual(planted.task);
  });

  it("diversity/cluster: the dominant lexical cluster is the planted group", () => {
    const f = report.findings.find((x) => x.id === "diversity/cluster");
    expect(f).toBeDefined();
    const got = new Set(f!.ids);
    const hit = [...got].filter((i) => planted.leading.has(i)).length;
    expect(hit / got.size).toBeGreaterThanOrEqual(0.95); // precision
    expect(hit / planted.leading.size).toBeGreaterThanOrEqual(0.95); // recall
  });

  it("counts unreadable rows and names them, and a missing path, without throwing", () => {
    const bad = report.sources.find((s) => s.name === "bad")!;
    expect(bad).toMatchObject({ rows: 3, analysed: 1, skipped: 2 });
    expect(bad.errors.join("\n")).toMatch(/bad\.jsonl:2: /);
    expect(bad.errors.join("\n")).toMatch(/bad\.jsonl:3: field "instruction": missing/);
    const missing = report.sources.find((s) => s.name === "missing")!;
    expect(missing.analysed).toBe(0);
    expect(missing.errors[0]).toContain("nope/*.jsonl");
  });
});

describe("outputs", () => {
  it("HTML is self-contained: inline SVG charts, no scripts, no network", () => {
    const html = renderHtml(report);
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain("<svg");
    expect(html).toContain('id="src-skew"');
    expect(html).not.toMatch(/<script|https?:\/\/|<link /);
    expect(html).toContain("skew.jsonl:1");
  });

  it("JSON leaves out the id lists and round-trips", () => {
    const json = JSON.parse(JSON.stringify(reportJson(report))) as { findings: Record<string, unknown>[] };
    expect(json.findings.length).toBe(report.findings.length);
    for (const f of json.findings) expect(f).not.toHaveProperty("ids");
  });
});

describe("helpers", () => {
  it("LSH bands put a pair at the threshold among candidates with probability >= 0.95", () => {
    for (const t of [0.5, 0.7, 0.8, 0.9]) {
      const { bands, rows } = bandsFor(t);
      expect(1 - (1 - t ** rows) ** bands).toBeGreaterThanOrEqual(0.95);
    }
  });

  it("detects languages by script and stop words, and stays silent on short or mixed text", () => {
    expect(detectLanguage("The cat is on the table and it is sleeping in the sun for the day.")).toBe("en");
    expect(
      detectLanguage("Der Hund ist nicht im Garten und die Katze ist mit dem Kind auf den Straßen."),
    ).toBe("de");
    expect(detectLanguage("这是一个很好的问题，我们需要仔细考虑所有的因素。")).toBe("zh");
    expect(detectLanguage("これは日本語の文章です。ひらがなとカタカナがあります。")).toBe("ja");
    expect(detectLanguage("Yes.")).toBeNull();
  });

  it("every language or script it can return is a valid `language` filter value; others are rejected", () => {
    const texts = [
      "The cat is on the table and it is sleeping in the sun for the day.",
      "Это очень хороший вопрос, и мы должны подумать о нём внимательно.",
      "Це дуже гарне питання, і ми повинні подумати про нього уважно.",
      "이것은 매우 좋은 질문입니다. 우리는 신중하게 생각해야 합니다.",
      "هذا سؤال جيد جدا ويجب أن نفكر فيه بعناية شديدة",
      "Αυτή είναι μια πολύ καλή ερώτηση και πρέπει να τη σκεφτούμε",
      "यह एक बहुत अच्छा प्रश्न है और हमें इस पर ध्यान से सोचना चाहिए",
      "Lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod",
    ];
    for (const t of texts) {
      const lang = detectLanguage(t);
      expect(lang).not.toBeNull();
      expect(languageCodes).toContain(lang);
    }
    const bad = FiltersSchema.safeParse({ language: ["english"] });
    expect(bad.success).toBe(false);
  });
});

describe("truncation heuristics on shapes seen in real data", () => {
  it("does not flag label lines, full-width brackets closing half-width ones; flags a cut list", () => {
    const outfit =
      "Outfit combination 1:\nTop: A navy blue polo shirt\nBottom: Dark wash slim-fit jeans\nAccessories: A matching navy blue belt and a patterned silk pocket square";
    expect(truncation(outfit)).toBeNull();
    expect(
      truncation("支出：\n- 房租：$1050 (假设按照月收入的30%计算）\n- 其他: $70 (约2%)\n\n总支出: $2980。"),
    ).toBeNull();
    expect(truncation("化学元素列表：\n1. 氢（Hydrogen, H）\n2. 氦（Helium, He）\n43. 锝(T")).toBe(
      "unclosed-bracket",
    );
    expect(
      truncation(
        "Bitcoin is volatile, so consider the risks of the currency you want to invest in. While Bitcoin",
      ),
    ).toBe("mid-sentence");
  });
});
