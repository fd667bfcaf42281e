import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fakeDecode, fakeEncode } from "../fake-encoder.ts";
import type { PreparedData, SourceReport } from "../pipeline.ts";
import type { TokenizedSample } from "../types.ts";
import { formatInspection, formatSourceStats, inspectJson, pickSamples } from "./index.ts";

function sample(source: string, q: string, a: string, line: number): TokenizedSample {
  const e = fakeEncode({
    messages: [
      { role: "user", content: q },
      { role: "assistant", content: a },
    ],
  });
  return { ...e, source, origin: { file: "/d/data.jsonl", line, index: line - 1 } };
}

const report: SourceReport = {
  name: "a",
  files: ["data.jsonl"],
  rows: 3,
  badRows: 1,
  filtered: { dedupe: 1 },
  trainRows: 1,
  evalRows: 0,
  tokens: 40,
  trainedTokens: 10,
  evalTokens: 0,
  longest: 40,
  longestBeforeLimit: 50,
  overLength: { dropped: 0, truncated: 1, errors: 0 },
  weight: 2,
  samplesPerEpoch: 2,
  cached: false,
  cacheKey: null,
  cacheBytes: 0,
  templateDrops: [],
};

describe("inspection", () => {
  const s = sample("a", "hi", "hello", 3);
  const opts = { n: 5, decode: fakeDecode, tokenText: (id: number) => fakeDecode([id]), baseDir: "/d" };

  it("brackets exactly the trained spans", () => {
    const out = formatInspection([s], { ...opts, color: false });
    expect(out).toContain("sample 1/1 · a · data.jsonl:3");
    // The fake encoder trains the answer and an end token (id 2, which decodes to nothing).
    expect(out).toContain("user: hi\nassistant: [[hello]]\n[[]]");
    expect(out).not.toContain("\x1b[");
  });

  it("colours trained spans with ANSI when asked, and lists tokens", () => {
    const out = formatInspection([s], { ...opts, color: true, tokens: 3 });
    expect(out).toContain("\x1b[42m\x1b[30mhello\x1b[0m");
    expect(out).toContain(`tokens: ""(1) "u"(120) "s"(118) …`);
  });

  it("shows per-source statistics", () => {
    const out = formatSourceStats([report]);
    expect(out.split("\n")[0]).toMatch(/^source\s+rows\s+bad\s+filtered/);
    expect(out).toContain("dedupe 1");
    expect(out).toContain("25.0%");
    expect(out).toContain("1 cut, 0 dropped, 0 errors");
    expect(out).toContain("2 (×2.00)");
  });

  it("gives the JSON form with -100 where masked", () => {
    const [j] = inspectJson([s], { n: 1, decode: fakeDecode, baseDir: "/d" });
    expect(j).toMatchObject({
      source: "a",
      file: "data.jsonl",
      row: 3,
      text: "user: hi\nassistant: hello\n",
    });
    expect(j!.input_ids).toHaveLength(j!.labels.length);
    expect(j!.labels[0]).toBe(-100);
    expect(j!.labels.filter((l) => l !== -100)).toHaveLength(6);
  });

  it("picks samples round-robin over sources", () => {
    const prepared: PreparedData = {
      reports: [report, { ...report, name: "b" }],
      train: { a: [sample("a", "1", "x", 1), sample("a", "2", "x", 2)], b: [sample("b", "3", "x", 1)] },
      eval: {},
      problems: [],
      cacheHit: false,
      warnings: [],
    };
    expect(pickSamples(prepared, 3).map((x) => `${x.source}${x.origin.line}`)).toEqual(["a1", "b1", "a2"]);
  });
});

describe("inspection of a real SentencePiece tokenizer (stories260K, legacy Llama)", () => {
  it("shows the template's text: no space after special tokens, a span's own leading space kept", async () => {
    const { loadTokenizer } = await import("../tokenizer/index.ts");
    const tok = await loadTokenizer(join(import.meta.dirname, "../../../../../examples/models/stories260K"));
    tok.addTokens([
      { content: "<|user|>", special: true },
      { content: "<|end|>", special: true },
    ]);
    const prompt = "<s><|user|>Tell me a story.<|end|>Answer:";
    const answer = " Once upon a time.<|end|>";
    const promptIds = tok.encode(prompt, { addSpecialTokens: false });
    const inputIds = tok.encode(prompt + answer, { addSpecialTokens: false });
    // The tokenizer itself starts the run after <|user|> with "▁" (as transformers does for legacy Llama).
    expect(tok.idToToken(inputIds[2]!)?.startsWith("\u2581")).toBe(true);
    const labels = inputIds.map((id, i) => (i < promptIds.length ? -100 : id));
    const s: TokenizedSample = { inputIds, labels, source: "a", origin: { file: "/d/x.jsonl", index: 0 } };
    const out = formatInspection([s], {
      n: 1,
      color: false,
      decode: (ids) => tok.decodeAsWritten(ids),
      tokenText: (id) => tok.idToToken(id) ?? "",
    });
    expect(out.split("\n")[1]).toBe("<s><|user|>Tell me a story.<|end|>Answer:[[ Once upon a time.<|end|>]]");
  });
});
