// The built-ins on LLaMA-Factory's glaive tool-call set against the model families' real templates,
// both rendered by our renderer (whose parity with Python Jinja2 template.fixtures.test.ts checks).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { fixture, hasSharedFixtures, sharedFixturesSkipReason } from "../../testing/fixtures.ts";
import { convertSharegpt } from "../formats/chat.ts";
import type { Conversation } from "../types.ts";
import { builtinTemplates } from "./builtins.ts";
import { renderChatTemplate } from "./render.ts";

const QWEN_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";
const LLAMA31_DATE = "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n";

describe.skipIf(!hasSharedFixtures)(
  `built-in templates on glaive tool calls${hasSharedFixtures ? "" : ` (${sharedFixturesSkipReason})`}`,
  () => {
    const rows = hasSharedFixtures
      ? (JSON.parse(
          readFileSync(fixture("datasets/llama-factory/glaive_toolcall_en_demo.json"), "utf8"),
        ) as Record<string, unknown>[])
      : [];
    const convs = rows.map((row, i) => {
      const r = convertSharegpt(row, { format: "sharegpt" } as never);
      if (!r.ok || r.value.kind !== "chat") throw new Error(`glaive row ${i} does not convert`);
      return r.value.conversation;
    });
    const realQwen = hasSharedFixtures
      ? (
          JSON.parse(readFileSync(fixture("tokenizers/qwen2.5/tokenizer_config.json"), "utf8")) as {
            chat_template: string;
          }
        ).chat_template
      : "";
    const realLlama31 = hasSharedFixtures
      ? readFileSync(fixture("tokenizers/_chat_templates/trl/llama3_1.jinja"), "utf8")
      : "";
    const render = (template: string, conv: Conversation, ctx: Record<string, unknown> = {}) =>
      renderChatTemplate(template, { ...ctx, messages: conv.messages, tools: conv.tools });

    it("the rows have tool calls and tool definitions", () => {
      expect(convs.filter((c) => c.messages.some((m) => m.tool_calls)).length).toBeGreaterThan(100);
      expect(convs.filter((c) => c.tools).length).toBeGreaterThan(100);
    });

    it("qwen2.5 renders every row byte-identically to Qwen2.5's own template", () => {
      for (const [i, conv] of convs.entries()) {
        const text = render(builtinTemplates["qwen2.5"], conv);
        expect(text, `row ${i}`).toBe(render(realQwen, conv));
        if (conv.tools) expect(text).toContain("<tools>\n{");
        if (conv.messages.some((m) => m.tool_calls)) expect(text).toContain("<tool_call>\n{");
      }
    });

    it("chatml is Qwen2.5's template without its default system prompt", () => {
      for (const [i, conv] of convs.entries()) {
        const qwen = render(realQwen, conv)
          .replace(`<|im_start|>system\n${QWEN_SYSTEM}<|im_end|>\n`, "")
          .replace(`<|im_start|>system\n${QWEN_SYSTEM}\n\n`, "<|im_start|>system\n");
        expect(render(builtinTemplates.chatml, conv), `row ${i}`).toBe(qwen);
      }
    });

    it("llama-3 renders rows with tools byte-identically to Llama 3.1's template; without tools it leaves out 3.1's date system turn", () => {
      const ctx = { bos_token: "<|begin_of_text|>" };
      for (const [i, conv] of convs.entries()) {
        const ours = render(builtinTemplates["llama-3"], conv, ctx);
        const real = render(realLlama31, conv, ctx);
        if (conv.tools) expect(ours, `row ${i}`).toBe(real);
        else {
          // The one difference: Llama 3.1 always opens with a system turn carrying its knowledge/today dates.
          const dated = ours.replace(
            "<|begin_of_text|>",
            `<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n${LLAMA31_DATE}<|eot_id|>`,
          );
          expect(dated, `row ${i}`).toBe(real);
        }
      }
    });
  },
);
