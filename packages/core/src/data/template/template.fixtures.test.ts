// Byte parity with Python transformers on every real chat template in ../shared/fixtures.
// goldens/chat_templates.json comes from goldens/generate_goldens.py (Python Jinja2 set up as
// transformers' _compile_jinja_template); goldens/known-gaps.json lists cases we knowingly miss.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { fixture, hasSharedFixtures, sharedFixturesSkipReason } from "../../testing/fixtures.ts";
import { loadFixtureTemplates } from "./fixture-templates.ts";
import { renderChatTemplate, strftimeNow } from "./render.ts";

const golden = (name: string) =>
  JSON.parse(readFileSync(new URL(`./goldens/${name}`, import.meta.url), "utf8"));

interface Case {
  name: string;
  add_generation_prompt: boolean;
  messages: unknown[];
  tools?: unknown[];
}
type Outcome = { text?: string; error?: string };

describe.skipIf(!hasSharedFixtures)(
  `chat template parity${hasSharedFixtures ? "" : ` (${sharedFixturesSkipReason})`}`,
  () => {
    const templates = hasSharedFixtures ? loadFixtureTemplates(fixture("tokenizers")) : {};
    const expected = golden("chat_templates.json").templates as Record<
      string,
      { sha256: string; context: Record<string, unknown> } & Record<string, Outcome>
    >;
    const gaps = golden("known-gaps.json") as Record<string, string>;
    const { cases } = golden("conversations.json") as { cases: Case[] };

    it("has a golden for every fixture template, made from the same source", () => {
      expect(Object.keys(templates).sort()).toEqual(Object.keys(expected).sort());
      for (const [id, src] of Object.entries(templates))
        expect(createHash("sha256").update(src).digest("hex").slice(0, 16), id).toBe(expected[id]!.sha256);
    });

    it("renders every template x conversation byte-identically (or raises where Python raises)", () => {
      const failures: string[] = [];
      let total = 0;
      for (const [id, src] of Object.entries(templates)) {
        const want = expected[id]!;
        for (const c of cases) {
          const outcome = want[c.name]!;
          const ctx: Record<string, unknown> = {
            ...want.context,
            messages: c.messages,
            add_generation_prompt: c.add_generation_prompt,
            strftime_now: (f: string) => strftimeNow(f, new Date(2026, 0, 15, 12, 0, 0)),
          };
          if (c.tools) ctx.tools = c.tools;
          total++;
          let got: string | undefined;
          let error: string | undefined;
          try {
            got = renderChatTemplate(src, ctx, { name: id });
          } catch (e) {
            error = (e as Error).message;
            expect(error).toContain(id);
          }
          // A template's own raise_exception must raise the same message here.
          const raised = outcome.error?.startsWith("TemplateError: ") ? outcome.error.slice(15) : undefined;
          const ok =
            outcome.text !== undefined
              ? got === outcome.text
              : error !== undefined &&
                (raised === undefined || error.endsWith(`refused the conversation: ${raised}`));
          if (!ok && !gaps[`${id} ${c.name}`]) failures.push(`${id} ${c.name}: ${error ?? "output differs"}`);
        }
      }
      expect(total).toBeGreaterThanOrEqual(900);
      expect(failures).toEqual([]);
    });
  },
);
