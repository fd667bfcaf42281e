// Where a chat template's syntax error is. @huggingface/jinja's parser throws without a position (often just
// "Cannot read properties of undefined"), so when it fails the template is scanned tag by tag: unclosed
// delimiters, unbalanced blocks, and each tag parsed alone, each found at its line and column.
import { Template } from "@huggingface/jinja";
import { compatSource } from "./compat.ts";

export interface SyntaxFault {
  line: number;
  column: number;
  message: string;
}

/** An open block: its name, its tag as written, where it starts. */
interface Block {
  name: string;
  shown: string;
  offset: number;
}

interface Tag {
  opener: "{{" | "{%";
  /** The tag's text without delimiters and whitespace-control marks. */
  inner: string;
  offset: number;
}

const CLOSE = { "{{": "}}", "{%": "%}", "{#": "#}" } as const;
/** Block tags and the tag that ends each. */
const BLOCKS: Record<string, string> = {
  for: "endfor",
  if: "endif",
  macro: "endmacro",
  call: "endcall",
  filter: "endfilter",
  generation: "endgeneration",
};
/** Tags allowed inside an open block, by block. */
const MIDDLES: Record<string, readonly string[]> = { if: ["elif", "else"], for: ["else"] };

/** The first syntax error of `source`, located; null when none is found (the parser's message stands). */
export function locateSyntaxError(source: string): SyntaxFault | null {
  const text = source.replace(/\r\n?/g, "\n");
  const at = (offset: number, message: string): SyntaxFault => {
    const before = text.slice(0, offset);
    const line = before.split("\n").length;
    return { line, column: offset - before.lastIndexOf("\n"), message };
  };
  const tags: Tag[] = [];
  for (let i = text.search(/\{[{%#]/); i >= 0; ) {
    const open = text.slice(i, i + 2) as keyof typeof CLOSE;
    const end = closing(text, i + 2, CLOSE[open], open !== "{#");
    if (end < 0) return at(i, `\`${open}\` is never closed with \`${CLOSE[open]}\``);
    if (open !== "{#") {
      const inner = text
        .slice(i + 2, end)
        .replace(/^[-+]/, "")
        .replace(/[-+]$/, "")
        .trim();
      // A raw block's body is text, whatever it looks like.
      if (open === "{%" && inner === "raw") {
        const endRaw = /\{%[-+]?\s*endraw\s*[-+]?%\}/.exec(text.slice(end));
        if (!endRaw) return at(i, "`{% raw %}` is never closed (expected `{% endraw %}`)");
        const after = end + endRaw.index + endRaw[0].length;
        const next = text.slice(after).search(/\{[{%#]/);
        i = next < 0 ? -1 : after + next;
        continue;
      }
      tags.push({ opener: open, inner, offset: i });
    }
    const next = text.slice(end + 2).search(/\{[{%#]/);
    i = next < 0 ? -1 : end + 2 + next;
  }

  const stack: Block[] = [];
  for (const tag of tags) {
    const problem =
      tag.opener === "{{" ? parseAlone(`{{ ${tag.inner} }}`, `{{ ${tag.inner} }}`) : statement(tag, stack);
    if (problem) return at(tag.offset, problem);
  }
  const open = stack.pop();
  if (open)
    return at(
      open.offset,
      `\`${open.shown}\` is never closed (expected \`{% ${BLOCKS[open.name] ?? `end${open.name}`} %}\`)`,
    );
  return null;
}

/** Checks one statement tag against the open blocks (and parses its expression); a message, or null. */
function statement(tag: Tag, stack: Block[]): string | null {
  const word = /^\w+/.exec(tag.inner)?.[0] ?? "";
  const top = stack[stack.length - 1];
  const shown = `{% ${tag.inner} %}`;
  if (word === "set" && !tag.inner.includes("=")) {
    stack.push({ name: "set", shown, offset: tag.offset });
    return parseAlone(`{% ${tag.inner} %}{% endset %}`, shown);
  }
  if (word in BLOCKS) {
    stack.push({ name: word, shown, offset: tag.offset });
    if (word === "generation") return null;
    return parseAlone(`${shown}${word === "if" || word === "for" ? "x" : ""}{% ${BLOCKS[word]} %}`, shown);
  }
  if (word === "elif" || word === "else") {
    if (!top || !MIDDLES[top.name]?.includes(word))
      return `\`{% ${word} %}\` outside ${word === "elif" ? "an `{% if %}`" : "an `{% if %}` or `{% for %}`"} block`;
    return word === "elif" ? parseAlone(`{% if x %}${shown}{% endif %}`, shown) : null;
  }
  if (word.startsWith("end")) {
    const name = word.slice(3);
    if (!top) return `\`{% ${word} %}\` without an open \`{% ${name} %}\``;
    const expected = BLOCKS[top.name] ?? `end${top.name}`;
    if (word !== expected) return `\`{% ${word} %}\` where \`{% ${expected} %}\` was expected`;
    stack.pop();
    return null;
  }
  if (word === "break" || word === "continue") {
    return stack.some((b) => b.name === "for") ? null : `\`{% ${word} %}\` outside a \`{% for %}\` loop`;
  }
  if (word === "set" || word === "include" || word === "do") return parseAlone(shown, shown);
  return `unknown tag \`{% ${word || tag.inner} %}\``;
}

/** Parses a snippet holding one tag; a message naming the tag when it fails. */
function parseAlone(snippet: string, tag: string): string | null {
  try {
    new Template(compatSource(snippet));
    return null;
  } catch (e) {
    return `\`${tag}\` does not parse: ${(e as Error).message}`;
  }
}

/** Index of `close` after `from`, outside string literals (when `quotes`); -1 when missing. */
function closing(text: string, from: number, close: string, quotes: boolean): number {
  let quote: string | null = null;
  for (let i = from; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === "\\") i++;
      else if (c === quote) quote = null;
      continue;
    }
    if (quotes && (c === "'" || c === '"')) quote = c;
    else if (text.startsWith(close, i)) return i;
  }
  return -1;
}
