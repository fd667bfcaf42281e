// The quality filters of `filters`: each drops what its detector flags, counts under its own name,
// and keeps clean rows.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FiltersSchema, SourceSchema } from "../../recipe/schema/data.ts";
import { fakeEncode, fakeEncodeCompletion } from "../fake-encoder.ts";
import { prepareData } from "../pipeline.ts";
import { applyFilters } from "./filters.ts";
import { convertRow } from "./index.ts";
import type { Converted } from "./types.ts";

const src = SourceSchema.parse({ path: "x.jsonl", format: "alpaca" });
const row = (instruction: string, output: string): [Record<string, unknown>, Converted] => {
  const raw = { instruction, output };
  const c = convertRow(raw, src);
  if (!c.ok) throw new Error(c.message);
  return [raw, c.value];
};
const clean = row(
  "Describe how the water cycle works in the environment.",
  "Water evaporates, condenses into clouds and falls back as rain.",
);

function run(filters: unknown, rows: [Record<string, unknown>, Converted][]) {
  const f = applyFilters(FiltersSchema.parse(filters));
  const kept = rows.map(([raw, c]) => f.check(raw, c));
  return { dropped: kept, counts: f.counts };
}

describe("quality filters", () => {
  it("dropTruncated: mid-sentence answers and unclosed code fences", () => {
    const cut = row("Explain the loop.", "The loop runs over each item and adds it to the total because the");
    const fence = row("Write code.", "Here it is:\n```python\nprint(1)");
    const r = run({ dropTruncated: true }, [clean, cut, fence]);
    expect(r.dropped).toEqual([null, "dropTruncated", "dropTruncated"]);
    expect(r.counts).toEqual({ dropTruncated: 2 });
  });

  it("dropRefusals", () => {
    const refusal = row("Tell me a secret.", "I'm sorry, but I can't help with that.");
    expect(run({ dropRefusals: true }, [clean, refusal]).dropped).toEqual([null, "dropRefusals"]);
    expect(run({}, [refusal]).dropped).toEqual([null]);
  });

  it("language: same as the instruction (translation requests kept), or a list", () => {
    const french = row(
      "Describe how the water cycle works in the environment and what it does.",
      "Le cycle de l'eau est le mouvement de l'eau dans la nature et il est très important pour la vie.",
    );
    const translate = row(
      "Translate into French: the water cycle is important.",
      "Le cycle de l'eau est très important pour la vie et pour la nature.",
    );
    expect(run({ language: "same" }, [clean, french, translate]).dropped).toEqual([null, "language", null]);
    expect(run({ language: ["fr"] }, [french, translate]).dropped).toEqual([null, null]);
    expect(run({ language: ["zh"] }, [french]).dropped).toEqual(["language"]);
    // A script name keeps every language written in it.
    expect(run({ language: ["latin"] }, [french]).dropped).toEqual([null]);
    const chinese = row("用中文描述水循环。", "水循环是水在自然界中不断运动的过程，包括蒸发、凝结和降水。");
    expect(run({ language: ["han"] }, [chinese, french]).dropped).toEqual([null, "language"]);
  });

  it("minLength/maxLength measure the trained answer; minChars/maxChars the whole text", () => {
    const short = row("Describe the sea in detail please, with colours and sounds.", "Blue.");
    expect(run({ minLength: 10 }, [clean, short]).dropped).toEqual([null, "minLength"]);
    expect(run({ maxLength: 20 }, [clean, short]).dropped).toEqual(["maxLength", null]);
    expect(run({ minChars: 10 }, [short]).dropped).toEqual([null]);
  });

  it("dedupe: true drops exact copies only; { threshold } drops near-duplicates too", () => {
    const base =
      "The committee met on Tuesday to review the budget, approve the new hiring plan, and discuss the schedule for the spring conference in the capital.";
    const a = row("Summarize the meeting notes.", base);
    const copy = row(" summarize the MEETING notes. ", base);
    const near = row("Summarize the meeting notes.", base.replace("Tuesday", "Wednesday"));
    expect(run({ dedupe: true }, [a, copy, near]).dropped).toEqual([null, "dedupe", null]);
    const fuzzy = run({ dedupe: { threshold: 0.7 } }, [a, near, clean]);
    expect(fuzzy.dropped).toEqual([null, "dedupe", null]);
    expect(FiltersSchema.parse({ dedupe: {} }).dedupe).toEqual({ threshold: 0.8 });
  });

  it("rejects a threshold outside (0, 1] with a message", () => {
    const r = FiltersSchema.safeParse({ dedupe: { threshold: 1.5 } });
    expect(r.success).toBe(false);
  });
});

describe("quality filters in the pipeline", () => {
  it("run before the split and count under their names in the source report", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sft-qfilters-"));
    try {
      const long =
        "The river rises in the hills, runs through three towns and the old mill, and reaches the sea in the south.";
      const rows = [
        { instruction: "Describe the river and where it goes.", output: long },
        { instruction: "Describe the river and where it goes.", output: long.replace("three", "four") },
        {
          instruction: "Explain the weather today in the valley.",
          output: "It rains in the morning and the",
        },
        {
          instruction: "Tell me the password of the admin account.",
          output: "I'm sorry, but I can't help with that.",
        },
        {
          instruction: "Describe what the farmers do in the spring and why they do it.",
          output: "Les agriculteurs sèment le blé au printemps et ils le font pour la récolte de l'été.",
        },
        { instruction: "Name the capital city of France for me.", output: "Paris." },
      ];
      writeFileSync(join(dir, "d.jsonl"), rows.map((r) => JSON.stringify(r)).join("\n"));
      const p = await prepareData({
        baseDir: dir,
        sources: {
          d: SourceSchema.parse({
            path: "d.jsonl",
            format: "alpaca",
            filters: {
              dedupe: { threshold: 0.7 },
              dropTruncated: true,
              dropRefusals: true,
              language: "same",
            },
          }),
        },
        seed: 1,
        cacheDir: null,
        encode: fakeEncode,
        encodeCompletion: fakeEncodeCompletion,
        cacheKeyExtra: "",
        maxLength: 4096,
        overLength: "truncate",
      });
      expect(p.reports[0]!.filtered).toEqual({ dedupe: 1, dropTruncated: 1, dropRefusals: 1, language: 1 });
      expect(p.reports[0]!.trainRows).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
