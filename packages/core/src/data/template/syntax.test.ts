// A chat template's syntax error at its line and column; no false alarm on the real templates.
import { describe, expect, it } from "vitest";
import { fixture, hasSharedFixtures, sharedFixturesSkipReason } from "../../testing/fixtures.ts";
import { builtinTemplates } from "./builtins.ts";
import { loadFixtureTemplates } from "./fixture-templates.ts";
import { ChatTemplateError, renderChatTemplate } from "./render.ts";
import { locateSyntaxError } from "./syntax.ts";

describe("locateSyntaxError", () => {
  it.each([
    ["{% for m in messages %}\n{{ m.content }}\n{% endfor", 3, 1, "`{%` is never closed with `%}`"],
    ["{% if x %}\nhi\n", 1, 1, "`{% if x %}` is never closed (expected `{% endif %}`)"],
    ["line1\n{{ foo( }}", 2, 1, "`{{ foo( }}` does not parse: Unexpected token: CloseExpression"],
    ["a\n  {% if x %}b{% endfor %}", 2, 14, "`{% endfor %}` where `{% endif %}` was expected"],
    ["{% else %}", 1, 1, "`{% else %}` outside an `{% if %}` or `{% for %}` block"],
    ["{%- if x -%}\n{{ '%}' }}{% elif y ==== 2 %}{% endif %}", 2, 11, "`{% elif y ==== 2 %}` does not parse"],
    ["{% raw %}{% if %}{% endraw %}{% frobnicate %}", 1, 30, "unknown tag `{% frobnicate %}`"],
  ])("%j", (source, line, column, message) => {
    const fault = locateSyntaxError(source);
    expect(fault).toMatchObject({ line, column });
    expect(fault?.message).toContain(message);
  });

  it("a render of a broken template throws a ChatTemplateError with the place", () => {
    let caught: unknown;
    try {
      renderChatTemplate("{% for m in messages %}\n{{ m.content }}\n{% if m %}\n{% endfor %}", {
        messages: [],
      });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ChatTemplateError);
    expect((caught as ChatTemplateError).at).toEqual({ line: 4, column: 1 });
    expect((caught as ChatTemplateError).message).toContain(
      "does not parse: line 4, column 1: `{% endfor %}` where `{% endif %}` was expected",
    );
  });

  it("finds nothing in the built-in templates", () => {
    for (const [name, text] of Object.entries(builtinTemplates))
      expect([name, locateSyntaxError(text)]).toEqual([name, null]);
  });

  it.skipIf(!hasSharedFixtures)(
    `finds nothing in the real chat templates${hasSharedFixtures ? "" : ` (${sharedFixturesSkipReason})`}`,
    () => {
      const templates = loadFixtureTemplates(fixture("tokenizers"));
      expect(Object.keys(templates).length).toBeGreaterThan(100);
      const alarms = Object.entries(templates).filter(([, t]) => locateSyntaxError(t) !== null);
      expect(alarms.map(([n]) => n)).toEqual([]);
    },
  );
});
