// sft/template-drops-feature: a chat template that renders nothing of the data's tool calls, tool
// definitions or system messages is a located error, unless the recipe acknowledges it.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fixture, hasSharedFixtures, sharedFixturesSkipReason } from "../testing/fixtures.ts";
import { compileRecipe } from "./compile.ts";

const repo = join(import.meta.dirname, "../../../..");
const model = join(repo, "examples/models/stories260K");
const CODE = "sft/template-drops-feature";

/** ChatML as the built-in was before tools: every message as role + content. */
const plainChatml =
  "{%- for m in messages %}{{- '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{%- endfor %}";

const tool = {
  name: "get_weather",
  description: "Weather of a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
};
const call = (city: string) => ({
  from: "function_call",
  value: JSON.stringify({ name: "get_weather", arguments: { city } }),
});

/** LLaMA-Factory sharegpt rows, as in glaive: line 1 plain, 2-3 call a tool, 2-4 define tools. */
const toolRows = [
  {
    conversations: [
      { from: "human", value: "Hi" },
      { from: "gpt", value: "Hello!" },
    ],
  },
  ...["Oslo", "Rome"].map((city) => ({
    conversations: [
      { from: "human", value: `Weather in ${city}?` },
      call(city),
      { from: "observation", value: '{"temperature": 18}' },
      { from: "gpt", value: `It is 18 degrees in ${city}.` },
    ],
    tools: JSON.stringify([tool]),
  })),
  {
    conversations: [
      { from: "human", value: "Hi again" },
      { from: "gpt", value: "Hello again!" },
    ],
    tools: JSON.stringify([tool]),
  },
];

async function compileWith(opts: {
  template: unknown;
  file: string;
  write?: (dir: string, path: string) => void;
  rows?: unknown[];
  format?: string;
  acknowledge?: string[];
}) {
  const dir = mkdtempSync(join(tmpdir(), "sft-drops-"));
  mkdirSync(join(dir, "data"));
  const path = join(dir, "data", opts.file);
  if (opts.write) opts.write(dir, path);
  else writeFileSync(path, `${(opts.rows ?? []).map((r) => JSON.stringify(r)).join("\n")}\n`);
  const recipe = {
    name: "drops",
    model: { path: model },
    template: opts.template,
    tokens: { add: ["<|im_start|>", "<|im_end|>"], eos: "<|im_end|>" },
    data: {
      sources: {
        tools: { path: `data/${opts.file}`, format: opts.format ?? "sharegpt" },
      },
    },
    method: { kind: "lora", rank: 4 },
    train: { overLength: "drop" },
    output: { dir: "out" },
    ...(opts.acknowledge ? { acknowledge: opts.acknowledge } : {}),
  };
  const recipeFile = join(dir, "recipe.mts");
  writeFileSync(recipeFile, `export default ${JSON.stringify(recipe, null, 2)};\n`);
  const result = await compileRecipe(recipeFile, { write: false });
  const recipeLine =
    readFileSync(recipeFile, "utf8")
      .split("\n")
      .findIndex((l) => l.includes('"tools": {')) + 1;
  return { result, recipeFile, recipeLine, drops: result.diagnostics.filter((d) => d.code === CODE) };
}

describe(CODE, () => {
  it("a template without tool support on tool-call data: an error per feature, naming source, row and count", async () => {
    const { result, drops, recipeFile, recipeLine } = await compileWith({
      template: { jinja: plainChatml },
      file: "tools.jsonl",
      rows: toolRows,
    });
    expect(result.plan).toBeNull();
    expect(drops.map((d) => [d.severity, d.path])).toEqual([
      ["error", ["data", "sources", "tools"]],
      ["error", ["data", "sources", "tools"]],
    ]);
    const [calls, defs] = drops;
    expect(calls!.message).toMatch(
      /^data\/tools\.jsonl:2: .*without its tool calls.*2 of 4 rows of source `tools`/,
    );
    expect(defs!.message).toMatch(
      /^data\/tools\.jsonl:2: .*without its tool definitions.*3 of 4 rows of source `tools`/,
    );
    expect(calls!.location).toMatchObject({ file: recipeFile, line: recipeLine });
    expect(calls!.hint).toContain(`acknowledge ${CODE}`);
  });

  it("acknowledged: no error, and the plan records it as an acknowledged warning", async () => {
    const { result, drops } = await compileWith({
      template: { jinja: plainChatml },
      file: "tools.jsonl",
      rows: toolRows,
      acknowledge: [CODE],
    });
    expect(result.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    expect(drops).toEqual([]);
    expect(result.plan?.warnings.filter((w) => w.id === CODE).map((w) => w.acknowledged)).toEqual([
      true,
      true,
    ]);
  });

  it("the built-in chatml represents tool calls and tools: no diagnostic", async () => {
    const { result, drops } = await compileWith({ template: "chatml", file: "tools.jsonl", rows: toolRows });
    expect(drops).toEqual([]);
    expect(result.plan).not.toBeNull();
  });

  it("a template without a system role on data with a system message", async () => {
    const noSystem =
      "{%- for m in messages %}{%- if m['role'] != 'system' %}{{- '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{%- endif %}{%- endfor %}";
    const rows = [
      {
        messages: [
          { role: "user", content: "Hi" },
          { role: "assistant", content: "Hello" },
        ],
      },
      {
        messages: [
          { role: "system", content: "Answer in French." },
          { role: "user", content: "Hi" },
          { role: "assistant", content: "Bonjour" },
        ],
      },
    ];
    const { drops } = await compileWith({
      template: { jinja: noSystem },
      file: "sys.jsonl",
      rows,
      format: "messages",
    });
    expect(drops).toHaveLength(1);
    expect(drops[0]!.severity).toBe("error");
    expect(drops[0]!.message).toMatch(
      /^data\/sys\.jsonl:2: .*without its system message.*1 of 2 rows of source `tools`/,
    );
  });

  describe.skipIf(!hasSharedFixtures)(
    `on LLaMA-Factory's glaive tool calls${hasSharedFixtures ? "" : ` (${sharedFixturesSkipReason})`}`,
    () => {
      it("names the first row with tool calls and counts them", async () => {
        const glaive = hasSharedFixtures
          ? fixture("datasets/llama-factory/glaive_toolcall_en_demo.json")
          : "";
        const rows = JSON.parse(readFileSync(glaive, "utf8")) as {
          conversations: { from: string }[];
          tools: string;
        }[];
        const withCalls = rows.flatMap((r, i) =>
          r.conversations.some((t) => t.from === "function_call") ? [i] : [],
        );
        const withTools = rows.flatMap((r, i) => (JSON.parse(r.tools || "[]").length ? [i] : []));
        const { drops } = await compileWith({
          template: { jinja: plainChatml },
          file: "glaive.json",
          write: (_dir, path) => copyFileSync(glaive, path),
        });
        const calls = drops.find((d) => d.message.includes("tool calls"));
        const defs = drops.find((d) => d.message.includes("tool definitions"));
        expect(calls?.message).toMatch(
          new RegExp(`^data/glaive\\.json row ${withCalls[0]}: .*${withCalls.length} of ${rows.length} rows`),
        );
        expect(defs?.message).toMatch(
          new RegExp(`^data/glaive\\.json row ${withTools[0]}: .*${withTools.length} of ${rows.length} rows`),
        );
        expect(calls?.severity).toBe("error");
      });
    },
  );
});
