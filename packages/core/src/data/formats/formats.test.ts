import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { SourceSchema } from "../../recipe/schema/data.ts";
import { fixture, hasSharedFixtures, sharedFixturesSkipReason } from "../../testing/fixtures.ts";
import {
  type ConvertResult,
  conversationOf,
  convertRow,
  type DatasetInfoEntry,
  fromDatasetInfo,
  type SourceFormatOptions,
} from "./index.ts";

function ok(r: ConvertResult) {
  if (!r.ok) throw new Error(`expected ok, got ${r.field}: ${r.message}`);
  return r.value;
}
function chat(r: ConvertResult) {
  const v = ok(r);
  if (v.kind !== "chat") throw new Error("expected chat");
  return v.conversation;
}

describe("alpaca", () => {
  const src: SourceFormatOptions = { format: "alpaca" };
  it("joins instruction and input, adds system and history", () => {
    const c = chat(
      convertRow(
        {
          instruction: "Translate",
          input: "hola",
          output: "hello",
          system: "Be brief.",
          history: [["q1", "a1"]],
        },
        src,
      ),
    );
    expect(c.messages).toEqual([
      { role: "system", content: "Be brief." },
      { role: "user", content: "q1" },
      { role: "assistant", content: "a1" },
      { role: "user", content: "Translate\nhola" },
      { role: "assistant", content: "hello" },
    ]);
  });
  it("leaves out an empty input and maps columns", () => {
    const c = chat(
      convertRow({ q: "Hi", a: "Hello" }, { format: "alpaca", columns: { instruction: "q", output: "a" } }),
    );
    expect(c.messages).toEqual([
      { role: "user", content: "Hi" },
      { role: "assistant", content: "Hello" },
    ]);
  });
  it("names the field of a wrong shape", () => {
    expect(convertRow({ instruction: "x" }, src)).toMatchObject({
      ok: false,
      field: "output",
      message: /missing/,
    });
    expect(convertRow({ instruction: "x", output: ["a", "b"] }, src)).toMatchObject({
      field: "output",
      message: /got an array/,
    });
    expect(convertRow({ instruction: "x", output: "y", history: [["only one"]] }, src)).toMatchObject({
      field: "history[0]",
    });
  });
});

describe("sharegpt", () => {
  const src: SourceFormatOptions = { format: "sharegpt" };
  it("maps human/gpt/system/observation and function_call (to an assistant tool call)", () => {
    const c = chat(
      convertRow(
        {
          conversations: [
            { from: "system", value: "sys" },
            { from: "human", value: "weather?" },
            { from: "function_call", value: '{"name":"get_weather","arguments":{"city":"Oslo"}}' },
            { from: "observation", value: '{"temp":3}' },
            { from: "gpt", value: "3 degrees" },
          ],
          tools: '[{"name":"get_weather","parameters":{"type":"object"}}]',
        },
        src,
      ),
    );
    expect(c.messages.map((m) => m.role)).toEqual(["system", "user", "assistant", "tool", "assistant"]);
    expect(c.messages[2]?.tool_calls).toEqual([
      { type: "function", function: { name: "get_weather", arguments: { city: "Oslo" } } },
    ]);
    expect(c.tools).toEqual([
      { type: "function", function: { name: "get_weather", parameters: { type: "object" } } },
    ]);
  });
  it("reports an unknown role with its path", () => {
    const r = convertRow(
      {
        conversations: [
          { from: "human", value: "a" },
          { from: "gpt", value: "b" },
          { from: "gtp", value: "c" },
        ],
      },
      src,
    );
    expect(r).toMatchObject({
      ok: false,
      field: "conversations[2].from",
      message: expect.stringContaining('unknown role "gtp"'),
    });
  });
  it("uses tags: custom keys and role names", () => {
    const c = chat(
      convertRow(
        {
          chat: [
            { speaker: "Q", text: "hi" },
            { speaker: "A", text: "yo" },
          ],
        },
        {
          format: "sharegpt",
          columns: { messages: "chat" },
          tags: { role: "speaker", content: "text", roles: { Q: "user", A: "assistant" } },
        },
      ),
    );
    expect(c.messages).toEqual([
      { role: "user", content: "hi" },
      { role: "assistant", content: "yo" },
    ]);
  });
  it("rejects bad function_call JSON, a non-string value, and a conversation with nothing to train", () => {
    expect(convertRow({ conversations: [{ from: "function_call", value: "{oops" }] }, src)).toMatchObject({
      field: "conversations[0].value",
      message: /not valid JSON/,
    });
    expect(convertRow({ conversations: [{ from: "human", value: 3 }] }, src)).toMatchObject({
      field: "conversations[0].value",
    });
    expect(convertRow({ conversations: [{ from: "human", value: "x" }] }, src)).toMatchObject({
      message: /no assistant turn/,
    });
    expect(convertRow({ conversations: "nope" }, src)).toMatchObject({
      field: "conversations",
      message: /list of turns/,
    });
    expect(
      convertRow(
        {
          conversations: [
            { from: "human", value: "x" },
            { from: "gpt", value: "y" },
          ],
          tools: "{bad",
        },
        src,
      ),
    ).toMatchObject({
      field: "tools",
    });
  });
});

describe("messages", () => {
  const src: SourceFormatOptions = { format: "messages" };
  it("reads OpenAI roles, tool_calls, tool results, content parts, and loss weights", () => {
    const c = chat(
      convertRow(
        {
          messages: [
            { role: "system", content: "s" },
            {
              role: "user",
              content: [
                { type: "text", text: "a" },
                { type: "text", text: "b" },
              ],
            },
            {
              role: "assistant",
              content: null,
              tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: '{"x":1}' } }],
            },
            { role: "tool", tool_call_id: "c1", content: "42" },
            { role: "assistant", content: "done", loss_weight: 0 },
            { role: "user", content: "again" },
            { role: "assistant", content: "ok" },
          ],
        },
        src,
      ),
    );
    expect(c.messages[1]?.content).toBe("ab");
    expect(c.messages[2]).toEqual({
      role: "assistant",
      content: "",
      tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: '{"x":1}' } }],
    });
    expect(c.messages[3]).toEqual({ role: "tool", content: "42", tool_call_id: "c1" });
    expect(c.messages[4]?.train).toBe(false);
    expect(c.messages[6]?.train).toBeUndefined();
  });
  it("keeps role/content keys even when tags (with sharegpt defaults) only rename roles", () => {
    const tags = SourceSchema.parse({
      path: "x",
      format: "messages",
      tags: { roles: { bot: "assistant" } },
    }).tags;
    const c = chat(
      convertRow(
        {
          messages: [
            { role: "user", content: "q" },
            { role: "bot", content: "a" },
          ],
        },
        { format: "messages", tags },
      ),
    );
    expect(c.messages.map((m) => m.role)).toEqual(["user", "assistant"]);
  });
  it("rejects image parts and a tool call without a name", () => {
    expect(
      convertRow(
        {
          messages: [
            { role: "user", content: [{ type: "image_url", image_url: "x" }] },
            { role: "assistant", content: "a" },
          ],
        },
        src,
      ),
    ).toMatchObject({ field: "messages[0].content[0]", message: /only text/ });
    expect(
      convertRow({ messages: [{ role: "assistant", content: "", tool_calls: [{ function: {} }] }] }, src),
    ).toMatchObject({
      field: "messages[0].tool_calls[0]",
    });
  });
});

describe("completion and tokenized", () => {
  it("takes text from its column", () => {
    expect(ok(convertRow({ body: "abc" }, { format: "completion", columns: { text: "body" } }))).toEqual({
      kind: "text",
      text: "abc",
    });
    expect(convertRow({ text: 5 }, { format: "completion" })).toMatchObject({
      field: "text",
      message: /got a number/,
    });
  });
  it("checks ids and labels", () => {
    expect(ok(convertRow({ input_ids: [1, 2, 3] }, { format: "tokenized" }))).toEqual({
      kind: "ids",
      inputIds: [1, 2, 3],
      labels: [1, 2, 3],
    });
    expect(ok(convertRow({ input_ids: [1, 2], labels: [-100, 2] }, { format: "tokenized" }))).toMatchObject({
      labels: [-100, 2],
    });
    expect(convertRow({ input_ids: [1, 2], labels: [2] }, { format: "tokenized" })).toMatchObject({
      field: "labels",
      message: /1 entries/,
    });
    expect(convertRow({ input_ids: [1, -100] }, { format: "tokenized" })).toMatchObject({
      field: "input_ids[1]",
    });
    expect(convertRow({ input_ids: [1, 2.5] }, { format: "tokenized" })).toMatchObject({
      field: "input_ids[1]",
    });
  });
});

describe("dataset_info.json entries", () => {
  it("maps LLaMA-Factory columns and tags to a source that the recipe schema accepts", () => {
    const r = fromDatasetInfo({
      file_name: "mllm.json",
      formatting: "sharegpt",
      columns: { messages: "messages", system: "sys" },
      tags: { role_tag: "role", content_tag: "content", user_tag: "user", assistant_tag: "assistant" },
    });
    if (!r.ok) throw new Error(r.reason);
    const parsed = SourceSchema.parse(r.source);
    expect(parsed.columns).toEqual({ messages: "messages", system: "sys" });
    expect(parsed.tags).toEqual({
      role: "role",
      content: "content",
      roles: { user: "user", assistant: "assistant", observation: "tool", system: "system" },
    });
    expect(
      fromDatasetInfo({ file_name: "a.json", columns: { prompt: "q", query: "i", response: "r" } }),
    ).toMatchObject({
      ok: true,
      source: { format: "alpaca", columns: { instruction: "q", input: "i", output: "r" } },
    });
    expect(fromDatasetInfo({ hf_hub_url: "x/y" })).toMatchObject({ ok: false, reason: /hub dataset x\/y/ });
    expect(fromDatasetInfo({ file_name: "a.json", ranking: true })).toMatchObject({ ok: false });
    expect(fromDatasetInfo({ file_name: "a.json", columns: { images: "images" } })).toMatchObject({
      ok: false,
    });
  });
});

describe.skipIf(!hasSharedFixtures)(
  hasSharedFixtures ? "formats on LLaMA-Factory fixtures" : sharedFixturesSkipReason,
  () => {
    const dir = fixture("datasets/llama-factory");
    const info = () =>
      JSON.parse(readFileSync(`${dir}/dataset_info.json`, "utf8")) as Record<string, DatasetInfoEntry>;
    for (const name of [
      "identity",
      "alpaca_en_demo",
      "glaive_toolcall_en_demo",
      "glaive_toolcall_zh_demo",
      "mllm_demo",
    ]) {
      it(`converts every row of ${name} via its dataset_info entry`, () => {
        const entry = info()[name]!;
        const r = fromDatasetInfo(
          name === "mllm_demo" ? { ...entry, columns: { messages: "messages" } } : entry,
        );
        if (!r.ok) throw new Error(r.reason);
        const src = SourceSchema.parse(r.source);
        const rows = JSON.parse(readFileSync(`${dir}/${entry.file_name}`, "utf8")) as Record<
          string,
          unknown
        >[];
        const results = rows.map((row) => convertRow(row, src));
        expect(results.filter((x) => !x.ok)).toEqual([]);
        if (name.startsWith("glaive")) {
          const calls = results
            .flatMap((x) => (x.ok ? (conversationOf(x.value)?.messages ?? []) : []))
            .filter((m) => m.tool_calls);
          expect(calls.length).toBeGreaterThan(50);
        }
      });
    }
    it("skips the hub-only and preference entries with a reason", () => {
      const all = info();
      expect(fromDatasetInfo(all.alpaca_en!)).toMatchObject({ ok: false });
      expect(fromDatasetInfo(all.dpo_en_demo!)).toMatchObject({ ok: false, reason: /preference/ });
    });
  },
);
