import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTokenizer, tinyByteLevelTokenizer } from "../../data/tokenizer/index.ts";
import { initBackend } from "../../model/backend.ts";
import { randomModel } from "../../model/llama.ts";
import { tinyConfig } from "../../model/tiny.ts";
import { fixture, hasSharedFixtures, sharedFixturesSkipReason } from "../../testing/fixtures.ts";
import { runGenerate } from "./generate.ts";

let dir: string;
beforeAll(async () => {
  await initBackend();
  dir = await mkdtemp(join(tmpdir(), "sft-gen-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("runGenerate argument errors", () => {
  it("rejects a folder without an adapter, missing prompt and bad numbers with clear messages", async () => {
    await expect(runGenerate({ model: dir, adapter: "x", prompt: "hi" })).rejects.toThrow(
      /--adapter x: no adapter_config.json there/,
    );
    await expect(runGenerate({ model: dir })).rejects.toThrow(/exactly one of --prompt/);
    await expect(runGenerate({ model: dir, prompt: "a", topP: 2 })).rejects.toThrow(/--top-p: invalid value/);
    await expect(runGenerate({ model: join(dir, "nope"), prompt: "a" })).rejects.toThrow(/no such folder/);
  });
});

describe("runGenerate on a tiny random model with a chat template", () => {
  it("applies the template, stops at max tokens, and is deterministic per seed", async () => {
    const { tokenizerJson, config: tokenizerConfig } = tinyByteLevelTokenizer();
    const tok = createTokenizer(tokenizerJson, tokenizerConfig);
    const m = randomModel(tinyConfig("qwen2", { vocabSize: tok.vocabSize, eosTokenId: null }), { seed: 1 });
    const d = join(dir, "tiny");
    await m.save(d);
    m.dispose();
    await writeFile(join(d, "tokenizer.json"), JSON.stringify(tokenizerJson));
    await writeFile(join(d, "tokenizer_config.json"), JSON.stringify(tokenizerConfig));
    const msgs = join(dir, "m.json");
    await writeFile(msgs, JSON.stringify([{ role: "user", content: "hi" }]));
    const a = await runGenerate({ model: d, messages: msgs, maxNewTokens: 5, temperature: 1, seed: 7 });
    const b = await runGenerate({ model: d, messages: msgs, maxNewTokens: 5, temperature: 1, seed: 7 });
    expect(a.ids).toEqual(b.ids);
    expect(a.ids.length).toBeLessThanOrEqual(5);
    if (tok.chatTemplate) expect(a.promptText).toContain("hi");
  });
});

describe.skipIf(!hasSharedFixtures)(`sft generate on stories260K (${sharedFixturesSkipReason})`, () => {
  it("continues 'Once upon a time' like the reference greedy decode", async () => {
    let streamed = "";
    const res = await runGenerate({
      model: fixture("models/stories260K/hf-derived"),
      prompt: "Once upon a time",
      maxNewTokens: 40,
      write: (s) => {
        streamed += s;
      },
    });
    expect(res.promptIds).toEqual([1, 403, 407, 261, 378]);
    expect(res.text.startsWith(", there was a little girl named Lily")).toBe(true);
    expect(streamed.startsWith("Once upon a time, there was a little girl")).toBe(true);
  });
});
