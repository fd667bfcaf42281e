import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { builtinTemplates } from "./builtins.ts";
import { ChatTemplateError, renderChatTemplate, strftimeNow } from "./render.ts";

const golden = (name: string) =>
  JSON.parse(readFileSync(new URL(`./goldens/${name}`, import.meta.url), "utf8"));

interface Case {
  name: string;
  add_generation_prompt: boolean;
  messages: unknown[];
  tools?: unknown[];
}
const conversations = golden("conversations.json") as { context: Record<string, unknown>; cases: Case[] };

function contextFor(c: Case, base: Record<string, unknown>): Record<string, unknown> {
  const ctx: Record<string, unknown> = {
    ...base,
    messages: c.messages,
    add_generation_prompt: c.add_generation_prompt,
    strftime_now: (f: string) => strftimeNow(f, new Date(2026, 0, 15, 12, 0, 0)),
  };
  if (c.tools) ctx.tools = c.tools;
  return ctx;
}

describe("builtin templates", () => {
  // goldens/builtins.json: rendered by Python Jinja2 with transformers' settings (generate_goldens.py).
  const expected = golden("builtins.json") as Record<
    string,
    Record<string, { text?: string; error?: string }>
  >;

  it("goldens were generated from the current sources", () => {
    expect(golden("builtins.in.json")).toEqual(builtinTemplates);
  });

  for (const [name, source] of Object.entries(builtinTemplates)) {
    it(`${name} renders byte-identically to Python Jinja2`, () => {
      for (const c of conversations.cases) {
        const want = expected[name]![c.name]!;
        const render = () => renderChatTemplate(source, contextFor(c, conversations.context), { name });
        if (want.text !== undefined) expect(render(), c.name).toBe(want.text);
        else expect(render, c.name).toThrow(ChatTemplateError);
      }
    });
  }
});

describe("renderChatTemplate", () => {
  const msgs = [{ role: "user", content: "hi" }];

  it("names the template and the template's message when it raises", () => {
    const t = "{{ raise_exception('Conversation roles must alternate') }}";
    try {
      renderChatTemplate(t, { messages: msgs }, { name: "my-model" });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ChatTemplateError);
      expect((e as ChatTemplateError).raised).toBe(true);
      expect((e as Error).message).toBe(
        'chat template "my-model" refused the conversation: Conversation roles must alternate',
      );
    }
  });

  it("applies trim_blocks and lstrip_blocks like transformers", () => {
    const t =
      "{% for m in messages %}\n    {% if true %}\n[{{ m.content }}]\n    {% endif %}\n{% endfor %}\n";
    expect(renderChatTemplate(t, { messages: msgs })).toBe("[hi]\n");
  });

  it("drops {% generation %} tags, or marks them when asked", () => {
    const t =
      "{% for m in messages %}\n  {%- generation %}\n{{ m.content }}\n{%- endgeneration %}|{% endfor %}";
    expect(renderChatTemplate(t, { messages: msgs })).toBe("hi|");
    expect(renderChatTemplate(t, { messages: msgs }, { generationMarkers: { start: "<", end: ">" } })).toBe(
      "<hi>|",
    );
  });

  it("follows Python where @huggingface/jinja alone differs", () => {
    const r = (t: string, ctx: Record<string, unknown> = {}) => renderChatTemplate(t, ctx);
    expect(r("{% for c in 'ab' %}[{{ c }}]{% endfor %}")).toBe("[a][b]");
    expect(r("{{ missing | upper }}|{{ missing | length }}")).toBe("|0");
    expect(r("{{ 'abc' | selectattr('type', 'equalto', 'x') | list | length }}")).toBe("0");
    expect(r("{{ '\\n\\n  x  ' .lstrip('\\n') }}")).toBe("  x  ");
    expect(r("{{ {'a': true, 'b': none, 'c': [1, 'x']} }}")).toBe("{'a': True, 'b': None, 'c': [1, 'x']}");
    expect(r("{{ d | string }}", { d: { k: "it's" } })).toBe(`{'k': "it's"}`);
    expect(r("{{ 'a\"' + (d | tojson | safe) }}", { d: { k: 1 } })).toBe('a&#34;{"k": 1}');
    expect(r("{% for i in [1, 2, 3] %}{{ i }}{% if i == 2 %}{% break %}{% endif %}{% endfor %}")).toBe("12");
    expect(r("{% for i in [1, 2] %}<{{ i }}{% continue %}x{% endfor %}")).toBe("<1<2");
    expect(() => r("{{ 'a' + d }}", { d: { k: 1 } })).toThrow(/can only concatenate str/);
    expect(() => r("{{ missing.attr }}")).toThrow(/undefined/);
    // Escapes in literals keep their CR; raw CRLF in the source becomes "\n".
    expect(r("{{ 'a\\r\\nb' }}\r\n{{ 1 }}")).toBe("a\r\nb\n1");
  });

  it("context variables shadow globals such as strftime_now", () => {
    expect(renderChatTemplate("{{ strftime_now('%d %b %Y') }}", { strftime_now: () => "15 Jan 2026" })).toBe(
      "15 Jan 2026",
    );
    expect(strftimeNow("%Y-%m-%d %A %B %j", new Date(2026, 0, 15))).toBe("2026-01-15 Thursday January 015");
  });
});
