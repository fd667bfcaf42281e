// Labels on real tokenizers and every real chat template in ../shared/fixtures.
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { fixture, hasSharedFixtures, sharedFixturesSkipReason } from "../../testing/fixtures.ts";
import { builtinTemplates } from "../template/builtins.ts";
import { loadFixtureTemplates } from "../template/fixture-templates.ts";
import { ChatTemplateError } from "../template/render.ts";
import { loadTokenizer, type Tokenizer } from "../tokenizer/tokenizer.ts";
import { type Conversation, IGNORE_INDEX, type Message } from "../types.ts";
import { endOfTurnTokens, templateEndOfTurn } from "./end-of-turn.ts";
import { trainedRuns } from "./inspect.ts";
import { endOfTurnCandidates } from "./spans.ts";
import { tokenizeConversation } from "./tokenize.ts";

const title = (s: string) => (hasSharedFixtures ? s : `${s} (${sharedFixturesSkipReason})`);

describe.skipIf(!hasSharedFixtures)(title("labels against axolotl's Llama-2 fixture"), () => {
  let tok: Tokenizer;
  beforeAll(async () => {
    tok = await loadTokenizer(fixture("tokenizers", "llama-2"));
  });

  it("renders the same text and trains the same replies + EOS as conversation.tokenized_llama2chat.json", () => {
    const dir = fixture("datasets", "axolotl-fixtures");
    const raw = JSON.parse(readFileSync(`${dir}/conversation.json`, "utf8")) as {
      conversations: { from: string; value: string }[];
    };
    const want = JSON.parse(readFileSync(`${dir}/conversation.tokenized_llama2chat.json`, "utf8")) as {
      input_ids: number[];
      labels: number[];
    };
    // Axolotl used Llama-2's default system prompt; read it back from the fixture's own text.
    const fixtureText = tok.decode(want.input_ids);
    const system = /<<SYS>>\n([\s\S]*?)\n<<\/SYS>>/.exec(fixtureText)?.[1];
    expect(system).toBeDefined();
    const conv: Conversation = {
      messages: [
        { role: "system", content: system! },
        ...raw.conversations.map(
          (t): Message => ({ role: t.from === "human" ? "user" : "assistant", content: t.value }),
        ),
      ],
    };
    const r = tokenizeConversation(conv, {
      tokenizer: tok,
      template: builtinTemplates["llama-2"],
      eos: "turn",
    });
    // Same text: axolotl tokenized turn by turn, we tokenize the whole text once (ids differ at joins).
    const ours = tok.decode(r.inputIds);
    // The fixture ends with a stray <s> and <unk> padding (id 0) to 4096 tokens; joins decode slightly differently.
    const norm = (x: string) =>
      x
        .replace(/(<s>)?(<unk>)*$/, "")
        .replaceAll(" </s>", "</s>")
        .replaceAll("<s> [INST]", "<s>[INST]");
    expect(norm(ours)).toBe(norm(fixtureText));
    expect(r.inputIds).toEqual(tok.encode(r.text, { addSpecialTokens: false }));
    const wantRuns = trainedRuns(tok, want.labels);
    const gotRuns = trainedRuns(tok, r.labels);
    expect(wantRuns.length).toBeGreaterThanOrEqual(4);
    // One difference: whole-text encoding folds " </s>" into the single token "▁</s>" (id 2, decoded "</s>").
    expect(gotRuns.slice(0, wantRuns.length)).toEqual(
      wantRuns.map((x) => x.replace(/ <\/s>(<s>)?$/, "</s>")),
    );
    expect(gotRuns[0]!.endsWith("</s>")).toBe(true);
  });
});

const PROBE: Message[] = [
  { role: "system", content: "You are a pirate." },
  { role: "user", content: "Where is the treasure?" },
  { role: "assistant", content: "Arr, buried on the isle!" },
  { role: "user", content: "  And the map?  " },
  { role: "assistant", content: "  Lost at sea, matey.  " },
];

describe.skipIf(!hasSharedFixtures)(title("labels on every fixture chat template"), () => {
  const templates = hasSharedFixtures ? loadFixtureTemplates(fixture("tokenizers")) : {};
  let tok: Tokenizer;
  beforeAll(async () => {
    tok = await loadTokenizer(fixture("tokenizers", "phi-2"));
  });

  it("trains exactly the assistant contents (+ end of turn), never user text, with whole-text ids", () => {
    let checked = 0;
    const refused: string[] = [];
    const untrained: string[] = [];
    const missingEot: string[] = [];
    const noEot: string[] = [];
    const closers = endOfTurnCandidates(tok.eosToken, tok.specialTokens);
    for (const [id, template] of Object.entries(templates)) {
      const rows = [PROBE, PROBE.slice(1)];
      let r: ReturnType<typeof tokenizeConversation> | undefined;
      for (const messages of rows) {
        try {
          r = tokenizeConversation({ messages }, { tokenizer: tok, template, eos: "turn", templateName: id });
          break;
        } catch (e) {
          if (!(e instanceof ChatTemplateError)) throw new Error(`${id}: ${(e as Error).message}`);
        }
      }
      if (!r) {
        refused.push(id);
        continue;
      }
      checked++;
      expect(r.inputIds, id).toEqual(tok.encode(r.text, { addSpecialTokens: false }));
      const trained = trainedRuns(tok, r.labels).join("\u0000");
      // Every assistant reply is trained (templates may trim its outer spaces)...
      for (const reply of ["Arr, buried on the isle!", "Lost at sea, matey."]) {
        if (r.text.includes(reply)) expect(trained, `${id}: ${reply}`).toContain(reply);
      }
      // ...with its end-of-turn token when the template closes turns with one.
      const eot = templateEndOfTurn(template, tok);
      if (eot.endOfTurn && eot.eosAfterAssistant) {
        const runs = trainedRuns(tok, r.labels);
        for (const reply of ["Arr, buried on the isle!", "Lost at sea, matey."]) {
          if (!r.text.includes(reply)) continue;
          const run = runs.find((x) => x.includes(reply));
          const after = run?.slice(run.indexOf(reply)) ?? "";
          if (![eot.endOfTurn, ...closers].some((c) => after.includes(c))) missingEot.push(`${id}: ${reply}`);
        }
      } else noEot.push(id);
      // ...and no user or system text is.
      for (const other of ["Where is the treasure", "And the map", "You are a pirate"])
        expect(trained, `${id}: ${other}`).not.toContain(other);
      // Multimodal templates that only render list-form contents show no reply to train.
      const shown = r.text.includes("Arr, buried");
      if (shown && !r.labels.some((l) => l !== IGNORE_INDEX)) untrained.push(id);
    }
    // Python Jinja2 refuses these too with string contents: they need list-form (multimodal) contents.
    expect(refused).toEqual([
      "_chat_templates/trl/llava_next.jinja",
      "_chat_templates/trl/llava_next_training.jinja",
    ]);
    expect(untrained).toEqual([]);
    expect(missingEot).toEqual([]);
    console.log(`templates without an end-of-turn token after assistant turns: ${noEot.join(", ")}`);
    expect(checked).toBeGreaterThanOrEqual(180);
  });

  it("tool calls: trained with their end of turn (also with content null); tool results never", () => {
    const cases = (
      JSON.parse(
        readFileSync(new URL("../template/goldens/conversations.json", import.meta.url), "utf8"),
      ) as {
        cases: { name: string; messages: Message[]; tools?: unknown[] }[];
      }
    ).cases.filter((c) => c.tools);
    expect(cases.map((c) => c.name)).toEqual(["tools", "tool-call-null-content"]);
    for (const id of [
      "qwen2.5/tokenizer_config.json",
      "qwen3/tokenizer_config.json",
      "_chat_templates/trl/qwen2_5_training.jinja",
      // Not prefix-stable (reasoning kept after the last user turn): located by its assistant header.
      "_chat_templates/axolotl/qwen3.jinja",
    ]) {
      for (const c of cases) {
        const r = tokenizeConversation(
          { messages: c.messages, tools: c.tools },
          { tokenizer: tok, template: templates[id]!, eos: "turn" },
        );
        const runs = trainedRuns(tok, r.labels);
        const call = runs.find((x) => x.includes('"name": "get_weather"'));
        expect(call, `${id} ${c.name}`).toMatch(/^\n?<tool_call>[\s\S]*<\/tool_call><\|im_end\|>\n?$/);
        expect(runs.join("")).not.toContain("temperature");
      }
    }
    // Every template: tool results and user text are never trained.
    const unlocated: string[] = [];
    for (const [id, template] of Object.entries(templates)) {
      for (const c of cases) {
        let r: ReturnType<typeof tokenizeConversation>;
        try {
          r = tokenizeConversation({ messages: c.messages, tools: c.tools }, { tokenizer: tok, template });
        } catch (e) {
          if (e instanceof ChatTemplateError) continue;
          unlocated.push(`${id} ${c.name}`);
          continue;
        }
        const trained = trainedRuns(tok, r.labels).join("\u0000");
        for (const other of ["temperature", "Weather in Oslo", "weather in Paris"])
          expect(trained, `${id} ${c.name}`).not.toContain(other);
      }
    }
    expect(unlocated).toEqual([]);
  });

  it("finds the end-of-turn token of the main families", async () => {
    const cases: [string, string | null][] = [
      ["_chat_templates/axolotl/chatml.jinja", "<|im_end|>"],
      ["_chat_templates/axolotl/llama3.jinja", "<|eot_id|>"],
      ["_chat_templates/axolotl/gemma.jinja", "<end_of_turn>"],
      ["_chat_templates/axolotl/phi_3.jinja", "<|end|>"],
      ["_chat_templates/axolotl/mistral_v1.jinja", "</s>"],
      ["_chat_templates/chujiezheng-chat_templates/chat_templates/llama-2-chat.jinja", "</s>"],
      ["_chat_templates/trl/qwen2_5_training.jinja", "<|im_end|>"],
      ["_chat_templates/trl/llama3_training.jinja", "<|eot_id|>"],
      ["_chat_templates/ollama/index.json#25-granite-instruct", null],
    ];
    const llama = await loadTokenizer(fixture("tokenizers", "llama-2"));
    for (const [id, eot] of cases) {
      const got = templateEndOfTurn(templates[id]!, llama);
      expect(got, id).toEqual({ endOfTurn: eot, eosAfterAssistant: eot !== null });
    }
  });

  it("the end marker is one token with the real tokenizers, where HF's tokenizer makes it one", async () => {
    const llama = await loadTokenizer(fixture("tokenizers", "llama-2"));
    const llamaChat =
      templates["_chat_templates/chujiezheng-chat_templates/chat_templates/llama-2-chat.jinja"]!;
    expect(endOfTurnTokens(llamaChat, llama)).toMatchObject({ token: "</s>", id: 2, ids: [[2], [2]] });
    const phi3 = await loadTokenizer(fixture("tokenizers", "phi-3-mini"));
    expect(endOfTurnTokens(phi3.chatTemplate!, phi3)).toMatchObject({ token: "<|end|>", id: 32007 });
    // Mistral v1 writes "answer</s>": Llama-2's tokenizer.json has </s> with normalized: true, so it is matched
    // only after the "▁" its normalizer puts before spaces, and "answer</s>" is split into "</", "s", ">"
    // (transformers issue #23818). Mistral's own tokenizer.json has normalized: false there.
    const mistral = templates["_chat_templates/axolotl/mistral_v1.jinja"]!;
    const split = endOfTurnTokens(mistral, llama);
    expect(split.markers).toEqual(["</s>", "</s>"]);
    expect(split.token).toBeNull();
    expect(split.ids[0]!.map((id) => llama.idToToken(id))).toEqual(["</", "s", ">"]);
    const json = JSON.parse(readFileSync(fixture("tokenizers", "llama-2", "tokenizer.json"), "utf8"));
    for (const t of json.added_tokens) t.normalized = false;
    const dir = mkdtempSync(join(tmpdir(), "sft-mistral-like-"));
    writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(json));
    copyFileSync(
      fixture("tokenizers", "llama-2", "tokenizer_config.json"),
      join(dir, "tokenizer_config.json"),
    );
    const mistralLike = await loadTokenizer(dir);
    expect(endOfTurnTokens(mistral, mistralLike)).toMatchObject({ token: "</s>", id: 2, ids: [[2], [2]] });
  });

  it("Phi-3-mini and ChatGLM3 with their own templates and tokenizers", async () => {
    const phi3 = await loadTokenizer(fixture("tokenizers", "phi-3-mini"));
    const p = tokenizeConversation({ messages: PROBE }, { tokenizer: phi3, template: phi3.chatTemplate! });
    expect(trainedRuns(phi3, p.labels)).toEqual([
      "Arr, buried on the isle!<|end|>",
      "Lost at sea, matey.  <|end|>",
    ]);
    // ChatGLM3 closes a turn with the next role token only: nothing to train after the reply.
    const glm = await loadTokenizer(fixture("tokenizers", "chatglm3"));
    const g = tokenizeConversation({ messages: PROBE }, { tokenizer: glm, template: glm.chatTemplate! });
    expect(trainedRuns(glm, g.labels)).toEqual(["Arr, buried on the isle!", "Lost at sea, matey."]);
    expect(templateEndOfTurn(glm.chatTemplate!, glm)).toEqual({ endOfTurn: null, eosAfterAssistant: false });
  });

  it("Llama-2: the [/INST] header of the user turn is not trained, ' </s>' is", async () => {
    const llama = await loadTokenizer(fixture("tokenizers", "llama-2"));
    const r = tokenizeConversation(
      { messages: PROBE },
      { tokenizer: llama, template: builtinTemplates["llama-2"], eos: "turn" },
    );
    // " </s>" is one token ("▁</s>", id 2) in whole-text encoding; it decodes as "</s>".
    expect(trainedRuns(llama, r.labels)).toEqual(["Arr, buried on the isle!</s>", "Lost at sea, matey.</s>"]);
    expect(r.text).toContain("[/INST] Arr, buried on the isle! </s>");
  });
});
