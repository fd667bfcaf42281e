// Issue 21: bad data, bad templates and bad weights are located diagnostics from `sft plan`, never stack
// traces and never trained quietly. Every bad input is written here by the test.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Diagnostic } from "../recipe/diagnostics.ts";
import { compileRecipe } from "./compile.ts";

const repo = join(import.meta.dirname, "../../../..");
const stories = join(repo, "examples/models/stories260K");

interface Setup {
  /** Data files by name (under data/), as text or bytes. */
  files?: Record<string, string | Uint8Array>;
  source?: Record<string, unknown>;
  recipe?: Record<string, unknown>;
  /** Prepares extra files in the recipe's folder. */
  prepare?: (dir: string) => void;
}

const chat = (user: string, answer: string) =>
  JSON.stringify({
    messages: [
      { role: "user", content: user },
      { role: "assistant", content: answer },
    ],
  });

async function plan(setup: Setup) {
  const dir = mkdtempSync(join(tmpdir(), "sft-bad-inputs-"));
  mkdirSync(join(dir, "data"));
  const files = setup.files ?? { "d.jsonl": `${chat("Hi", "Hello")}\n${chat("Bye", "Goodbye")}\n` };
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, "data", name), content);
  setup.prepare?.(dir);
  const recipe = {
    name: "bad",
    model: { path: stories },
    template: "chatml",
    tokens: { add: ["<|im_start|>", "<|im_end|>"], eos: "<|im_end|>" },
    data: {
      sources: {
        main: { path: `data/${Object.keys(files)[0]}`, format: "messages", ...setup.source },
      },
    },
    method: { kind: "lora", rank: 4 },
    train: { overLength: "drop" },
    output: { dir: "out" },
    ...setup.recipe,
  };
  const recipeFile = join(dir, "recipe.mts");
  writeFileSync(recipeFile, `export default ${JSON.stringify(recipe, null, 2)};\n`);
  const result = await compileRecipe(recipeFile, { write: false });
  const lineOf = (text: string) =>
    readFileSync(recipeFile, "utf8")
      .split("\n")
      .findIndex((l) => l.includes(text)) + 1;
  return { result, dir, recipeFile, lineOf };
}

const errors = (ds: Diagnostic[]) => ds.filter((d) => d.severity === "error");

describe("invalid UTF-8 in a data file", () => {
  // Line 2 says "Café" in latin-1: the é is the byte 0xE9, which is not UTF-8.
  const prefix = '{"messages": [{"role": "user", "content": "Caf';
  const bad = Buffer.concat([
    Buffer.from(`${chat("Hi", "Hello")}\n${prefix}`),
    Buffer.from([0xe9]),
    Buffer.from('"}, {"role": "assistant", "content": "Bonjour"}]}\n'),
  ]);

  it("JSONL: an error at file:line naming the byte, not a U+FFFD trained", async () => {
    const { result } = await plan({ files: { "d.jsonl": bad } });
    expect(result.plan).toBeNull();
    const [e, ...rest] = errors(result.diagnostics);
    expect(rest).toEqual([]);
    expect(e).toMatchObject({ code: "sft/bad-data", path: ["data", "sources", "main", "path"] });
    expect(e!.message).toContain(`data/d.jsonl:2: invalid UTF-8 at byte ${prefix.length + 1} of the line (0xE9)`);
  });

  it('JSONL with onBadRow: "skip": the row is skipped and counted', async () => {
    const { result } = await plan({ files: { "d.jsonl": bad }, source: { onBadRow: "skip" } });
    expect(errors(result.diagnostics)).toEqual([]);
    expect(result.plan?.data.sources[0]).toMatchObject({ rows: 2, badRows: 1, trainRows: 1 });
    expect(result.diagnostics.find((d) => d.code === "sft/rows-skipped")?.message).toMatch(/^1 row/);
  });

  it("JSON and CSV: an error at file:line", async () => {
    const json = Buffer.concat([Buffer.from('[\n{"text": "ok"},\n{"text": "a'), Buffer.from([0xff, 0x22, 0x7d, 0x5d])]);
    const csv = Buffer.concat([Buffer.from("text\nfine\nnot "), Buffer.from([0xc3, 0x28]), Buffer.from("\n")]);
    for (const [name, content, line] of [
      ["d.json", json, 3],
      ["d.csv", csv, 3],
    ] as const) {
      const { result } = await plan({ files: { [name]: content }, source: { format: "completion" } });
      const [e] = errors(result.diagnostics);
      expect(e?.code).toBe("sft/bad-data");
      expect(e?.message).toContain(`data/${name}:${line}: invalid UTF-8`);
    }
  });
});

describe("empty turns anywhere in a conversation", () => {
  const turns = (...contents: string[]) =>
    JSON.stringify({
      messages: contents.map((content, i) => ({ role: i % 2 ? "assistant" : "user", content })),
    });
  const files = {
    "d.jsonl": [
      turns("Hi", "Hello", "How are you?", "Fine."),
      turns("Hi", "", "Still there?", "Yes."), // an empty answer mid-conversation
      turns("Hi", "Hello", "  ", "Hm?"), // an empty question
      turns("Name a colour", "Blue"),
      "",
    ].join("\n"),
  };

  it("rows with one are dropped by dropEmpty, counted, and the first is named", async () => {
    const { result } = await plan({ files });
    expect(errors(result.diagnostics)).toEqual([]);
    expect(result.plan?.data.sources[0]).toMatchObject({ rows: 4, trainRows: 2, filtered: { dropEmpty: 2 } });
    const w = result.diagnostics.find((d) => d.code === "sft/empty-turns");
    expect(w?.severity).toBe("warning");
    expect(w?.message).toBe(
      "2 row(s) of `main` have an empty user or assistant turn and are dropped (first: data/d.jsonl:2, turn 2 (assistant))",
    );
  });

  it("dropEmpty: false keeps them (the recipe's choice)", async () => {
    const { result } = await plan({ files, source: { filters: { dropEmpty: false } } });
    expect(result.plan?.data.sources[0]).toMatchObject({ rows: 4, trainRows: 4 });
    expect(result.diagnostics.find((d) => d.code === "sft/empty-turns")).toBeUndefined();
  });
});

describe("pre-tokenized ids outside the vocabulary", () => {
  it("are a bad row at file:line naming the id and its place, before training", async () => {
    // stories260K has 512 rows; the chatml tokens take ids 512 and 513.
    const rows = [
      { input_ids: [1, 2, 3, 513] },
      { input_ids: [1, 70000, 3], labels: [-100, 70000, 3] },
      { input_ids: [1, 2, 3], labels: [-100, 2, 514] },
    ];
    const { result } = await plan({
      files: { "t.jsonl": rows.map((r) => JSON.stringify(r)).join("\n") },
      source: { format: "tokenized" },
    });
    expect(result.plan).toBeNull();
    const messages = errors(result.diagnostics).map((d) => [d.code, d.message.replace(/^.*data\//, "data/")]);
    expect(messages).toEqual([
      ["sft/bad-data", 'data/t.jsonl:2: field "input_ids[1]": token id 70000 is outside the vocabulary (ids 0-513)'],
      ["sft/bad-data", 'data/t.jsonl:3: field "labels[2]": token id 514 is outside the vocabulary (ids 0-513)'],
    ]);
  });
});

describe("layer selections past the model's layers", () => {
  it("lastLayers and layerRanges beyond a 5-layer model are errors located in the recipe", async () => {
    const { result, recipeFile, lineOf } = await plan({
      recipe: { method: { kind: "partial", lastLayers: 99, layerRanges: [[0, 2], [3, 7]] } },
    });
    expect(result.plan).toBeNull();
    const es = errors(result.diagnostics);
    expect(es.map((e) => [e.code, e.path, e.message])).toEqual([
      [
        "sft/layers-out-of-range",
        ["method", "lastLayers"],
        "lastLayers: 99 asks for more layers than the model has (5)",
      ],
      [
        "sft/layers-out-of-range",
        ["method", "layerRanges", 1],
        "layer range [3, 7) reaches past the model's 5 layers",
      ],
    ]);
    expect(es[0]!.location).toMatchObject({ file: recipeFile, line: lineOf('"lastLayers": 99') });
    expect(es[0]!.hint).toContain("numbered 0-4");
  });

  it("a selection within the model plans", async () => {
    const { result } = await plan({ recipe: { method: { kind: "partial", lastLayers: 5 } } });
    expect(errors(result.diagnostics)).toEqual([]);
  });
});
