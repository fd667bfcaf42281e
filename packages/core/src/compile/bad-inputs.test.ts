// Issue 21: bad data, bad templates and bad weights are located diagnostics from `sft plan`, never stack
// traces and never trained quietly. Every bad input is written here by the test.
import { mkdirSync, mkdtempSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseHfConfig } from "../model/config.ts";
import { familyOf } from "../model/families/index.ts";
import { writeSafetensors } from "../model/safetensors.ts";
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
    expect(e!.message).toContain(
      `data/d.jsonl:2: invalid UTF-8 at byte ${prefix.length + 1} of the line (0xE9)`,
    );
  });

  it('JSONL with onBadRow: "skip": the row is skipped and counted', async () => {
    const { result } = await plan({ files: { "d.jsonl": bad }, source: { onBadRow: "skip" } });
    expect(errors(result.diagnostics)).toEqual([]);
    expect(result.plan?.data.sources[0]).toMatchObject({ rows: 2, badRows: 1, trainRows: 1 });
    expect(result.diagnostics.find((d) => d.code === "sft/rows-skipped")?.message).toMatch(/^1 row/);
  });

  it("JSON and CSV: an error at file:line", async () => {
    const json = Buffer.concat([
      Buffer.from('[\n{"text": "ok"},\n{"text": "a'),
      Buffer.from([0xff, 0x22, 0x7d, 0x5d]),
    ]);
    const csv = Buffer.concat([
      Buffer.from("text\nfine\nnot "),
      Buffer.from([0xc3, 0x28]),
      Buffer.from("\n"),
    ]);
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
      [
        "sft/bad-data",
        'data/t.jsonl:2: field "input_ids[1]": token id 70000 is outside the vocabulary (ids 0-513)',
      ],
      [
        "sft/bad-data",
        'data/t.jsonl:3: field "labels[2]": token id 514 is outside the vocabulary (ids 0-513)',
      ],
    ]);
  });
});

describe("layer selections past the model's layers", () => {
  it("lastLayers and layerRanges beyond a 5-layer model are errors located in the recipe", async () => {
    const { result, recipeFile, lineOf } = await plan({
      recipe: {
        method: {
          kind: "partial",
          lastLayers: 99,
          layerRanges: [
            [0, 2],
            [3, 7],
          ],
        },
      },
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

describe("chat template errors", () => {
  // ChatML, as a user would write it, with one planted fault each.
  const good = [
    "{%- for m in messages %}",
    "{{- '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}",
    "{%- endfor %}",
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}",
  ];
  const withLine = (i: number, text: string) => good.map((l, j) => (j === i ? text : l)).join("\n");

  it("a syntax error in a template file: the file, the template's line and column, the tag", async () => {
    const text = withLine(3, "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}");
    const { result, dir, recipeFile, lineOf } = await plan({
      recipe: { template: { file: "chat.jinja" } },
      prepare: (d) => writeFileSync(join(d, "chat.jinja"), text),
    });
    const [e, ...rest] = errors(result.diagnostics);
    expect(rest).toEqual([]);
    expect(e).toMatchObject({ code: "sft/template-error", path: ["template", "file"] });
    expect(e!.message).toBe(
      `the chat template from ${join(dir, "chat.jinja")} does not parse: line 4, column 1: \`{% if add_generation_prompt %}\` is never closed (expected \`{% endif %}\`)`,
    );
    expect(e!.location).toMatchObject({ file: recipeFile, line: lineOf('"file": "chat.jinja"') });
  });

  it("a syntax error inline and in the tokenizer's template: where it came from, line and column", async () => {
    const inline = await plan({ recipe: { template: { jinja: withLine(1, "{{- m['content'] + }}") } } });
    expect(errors(inline.result.diagnostics)[0]?.message).toBe(
      "the chat template from the recipe's `template.jinja` does not parse: line 2, column 1: `{{ m['content'] + }}` does not parse: Unexpected token: CloseExpression",
    );
    const tokenizer = await plan({
      recipe: { template: "model", tokenizer: "tok" },
      prepare: (d) => {
        mkdirSync(join(d, "tok"));
        writeFileSync(join(d, "tok/tokenizer.json"), readFileSync(join(stories, "tokenizer.json")));
        const config = JSON.parse(readFileSync(join(stories, "tokenizer_config.json"), "utf8"));
        config.chat_template = withLine(2, "{%- endif %}");
        writeFileSync(join(d, "tok/tokenizer_config.json"), JSON.stringify(config));
      },
    });
    expect(errors(tokenizer.result.diagnostics)[0]?.message).toBe(
      `the chat template from ${join(tokenizer.dir, "tok/tokenizer_config.json")} does not parse: line 3, column 1: \`{% endif %}\` where \`{% endfor %}\` was expected`,
    );
  });

  it("an undefined variable is named: one that renders nothing, one that fails", async () => {
    // Jinja loops over an undefined name as over nothing: the template renders no turn at all.
    const typo = await plan({ recipe: { template: { jinja: withLine(0, "{%- for m in mesages %}") } } });
    expect(errors(typo.result.diagnostics).map((e) => [e.code, e.message])).toEqual([
      [
        "sft/eos-impossible",
        "EOS policy `turn` cannot be met: the template puts no EOS or end-of-turn token after assistant turns (the template from the recipe's `template.jinja` uses `mesages`, undefined in a chat template's context: a misspelling?)",
      ],
    ]);
    const call = await plan({
      recipe: { template: { jinja: withLine(1, "{{- format_turn(m) }}") } },
    });
    expect(errors(call.result.diagnostics)[0]?.message).toBe(
      "the chat template from the recipe's `template.jinja` failed to render: Cannot call something that is not a function: got UndefinedValue (the template uses `format_turn`, which is undefined here)",
    );
  });

  it("raise_exception on a data row: the row's file:line and the template's message", async () => {
    const refuse =
      "{%- if m['content'] == 'forbidden' %}{{ raise_exception('no forbidden turns') }}{%- endif %}";
    const { result } = await plan({
      recipe: { template: { jinja: withLine(1, `${refuse}${good[1]}`) } },
      files: { "d.jsonl": `${chat("Hi", "Hello")}\n${chat("forbidden", "x")}\n` },
    });
    const [e, ...rest] = errors(result.diagnostics);
    expect(rest).toEqual([]);
    expect(e?.code).toBe("sft/bad-data");
    expect(e?.message).toContain("data/d.jsonl:2: ");
    expect(e?.message).toContain("refused the conversation: no forbidden turns");
  });

  it("an empty template file and a folder named as the template file are errors, not traces", async () => {
    const empty = await plan({
      recipe: { template: { file: "chat.jinja" } },
      prepare: (d) => writeFileSync(join(d, "chat.jinja"), "\n"),
    });
    expect(errors(empty.result.diagnostics).map((e) => [e.code, e.message])).toEqual([
      ["sft/template-error", `the template file ${join(empty.dir, "chat.jinja")} is empty`],
    ]);
    const folder = await plan({
      recipe: { template: { file: "templates" } },
      prepare: (d) => mkdirSync(join(d, "templates")),
    });
    expect(errors(folder.result.diagnostics).map((e) => [e.code, e.message])).toEqual([
      ["sft/template-not-found", `${join(folder.dir, "templates")} is a folder, not a template file`],
    ]);
  });
});

describe("model weight files checked against config.json at plan time", () => {
  // A 2-layer llama written here: every tensor its config implies, zero-filled, unless a case changes one.
  const config = {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    vocab_size: 512,
    hidden_size: 16,
    intermediate_size: 32,
    num_hidden_layers: 2,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    max_position_embeddings: 256,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: true,
    torch_dtype: "float32",
  };
  const tensors = () => {
    const cfg = parseHfConfig(config, "config.json");
    return familyOf(cfg).tensors(cfg, cfg.vocabSize);
  };

  async function planModel(write: (file: string) => Promise<unknown>) {
    const dir = mkdtempSync(join(tmpdir(), "sft-bad-weights-"));
    mkdirSync(join(dir, "model"));
    writeFileSync(join(dir, "model/config.json"), JSON.stringify(config));
    const file = join(dir, "model/model.safetensors");
    await write(file);
    const out = await plan({ recipe: { model: { path: join(dir, "model") }, tokenizer: stories } });
    return {
      ...out,
      file,
      weights: errors(out.result.diagnostics).filter((d) => d.code === "sft/bad-weights"),
    };
  }
  const write = (file: string, list: { name: string; shape: number[] }[]) =>
    writeSafetensors(
      file,
      list.map((t) => ({
        name: t.name,
        shape: t.shape,
        data: new Float32Array(t.shape.reduce((a, b) => a * b, 1)),
      })),
    );

  it("weights that fit: no problem", async () => {
    const { weights, result } = await planModel((f) => write(f, tensors()));
    expect(weights).toEqual([]);
    expect(result.plan).not.toBeNull();
  });

  it("a missing tensor and a wrong shape: each named with the file", async () => {
    const { weights, file, result } = await planModel((f) =>
      write(
        f,
        tensors()
          .filter((t) => t.name !== "model.layers.1.mlp.down_proj.weight")
          .map((t) => (t.name === "model.layers.0.self_attn.k_proj.weight" ? { ...t, shape: [16, 8] } : t)),
      ),
    );
    expect(result.plan).toBeNull();
    expect(weights.map((w) => [w.path, w.message])).toEqual([
      [
        ["model", "path"],
        `${file}: tensor "model.layers.0.self_attn.k_proj.weight" has shape [16, 8], config.json implies [8, 16]`,
      ],
      [
        ["model", "path"],
        `${file}: tensor "model.layers.1.mlp.down_proj.weight" (shape [16, 32]) is missing`,
      ],
    ]);
  });

  it("a truncated file and a header length of 1 TiB: the file named, no tensor read", async () => {
    const cut = await planModel(async (f) => {
      await write(f, tensors());
      truncateSync(f, statSync(f).size - 100);
    });
    expect(cut.weights).toHaveLength(1);
    expect(cut.weights[0]!.message).toMatch(
      new RegExp(
        `^${cut.file.replaceAll("/", "\\/")}: tensor "[\\w.]+": data_offsets .* out of range .*truncated file\\?`,
      ),
    );
    const huge = await planModel(async (f) => {
      const bytes = Buffer.alloc(64);
      bytes.writeBigUInt64LE(1n << 40n, 0);
      writeFileSync(f, bytes);
    });
    expect(huge.weights.map((w) => w.message)).toEqual([
      `${huge.file}: header length 1099511627776 runs past the end of the file (64 bytes); truncated or not safetensors`,
    ]);
  });
});
