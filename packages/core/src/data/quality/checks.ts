// Row-level label checks on an answer, shared by the report's detectors and the recipe filters.
import type { Message } from "../types.ts";
import { normalise, unicodeWords, words } from "./text.ts";

const TERMINAL = /[.!?。！？…」』"'”’)\]}>*`~|;\p{Emoji_Presentation}]$/u;
// Words a sentence does not end on (lower case): an answer ending on one was cut.
const DANGLING_END = new RegExp(
  `\\s(${(
    "the a an and or but of to in on at for with from by as that which who whose is are was were be been " +
    "has have had will would can could should this these those their its our your my his her than then " +
    "because if when while such into onto about between including like"
  )
    .split(" ")
    .join("|")})$`,
  "u",
);

export type TruncationKind = "unclosed-fence" | "unclosed-bracket" | "mid-sentence";

/** Why an answer looks cut off, or null. Short answers (a name, a number) are never flagged. */
export function truncation(answer: string): TruncationKind | null {
  const text = answer.trimEnd();
  if (text === "") return null;
  if (unclosedFence(text)) return "unclosed-fence";
  if (unclosedBracket(text)) return "unclosed-bracket";
  const ws = words(text);
  if (ws.length < 6 || TERMINAL.test(text)) return null;
  if (/[,:\-–(]$/.test(text)) return "mid-sentence";
  // Hashtags, quote attributions ("- Paul Rand"), list items, headings and table rows end without a mark.
  const lastLine = text.slice(text.lastIndexOf("\n") + 1).trim();
  if (/#\w+$/u.test(lastLine) || /\s[-–—]\s*\p{Lu}[^\n]{0,40}$/u.test(lastLine)) return null;
  if (/^([-*+#>|]|\d+[.)]|[a-z][.)]\s)/i.test(lastLine)) return null;
  // "Label: value" lines (outfits, specs, key facts) end without a mark too.
  if (/^[\p{L}\p{N} /&-]{1,30}:\s/u.test(lastLine)) return null;
  if (DANGLING_END.test(text)) return "mid-sentence";
  // A long last line of prose with no end mark.
  if (lastLine.split(/\s+/).length >= 12 && /\p{Ll}$/u.test(lastLine)) return "mid-sentence";
  return null;
}

function unclosedFence(text: string): boolean {
  let open = false;
  for (const line of text.split("\n")) if (/^\s*(```|~~~)/.test(line)) open = !open;
  return open;
}

/** An opening bracket never closed (closers without openers are common in "1)" lists and are ignored). */
function unclosedBracket(text: string): boolean {
  // Full-width brackets pair with half-width ones in mixed CJK text: "(假设…）".
  const body = text
    .replace(/`[^`\n]*`/g, "")
    .replace(/:\(|\(:/g, "")
    .replace(/（/g, "(")
    .replace(/）/g, ")")
    .replace(/［/g, "[")
    .replace(/］/g, "]")
    .replace(/｛/g, "{")
    .replace(/｝/g, "}");
  const stack: string[] = [];
  const pairs: Record<string, string> = { ")": "(", "]": "[", "}": "{" };
  for (const ch of body) {
    if (ch === "(" || ch === "[" || ch === "{") stack.push(ch);
    else if (ch in pairs) {
      const i = stack.lastIndexOf(pairs[ch]!);
      if (i >= 0) stack.splice(i, 1);
    }
  }
  return stack.length > 0;
}

const REFUSAL = unicodeWords(
  new RegExp(
    [
      "\\bas an ai(?: language model| assistant| model)?\\b",
      "\\bi(?:'m| am) (?:sorry|afraid),? (?:but )?i (?:can(?:no|')t|am unable|won't|am not able)",
      "\\bi (?:cannot|can't|can not|am unable to|won't be able to|am not able to) (?:help|assist|provide|fulfil|fulfill|comply|do that|answer|generate|create|write)",
      "\\bi(?:'m| am) not able to (?:help|assist|provide|comply)",
      "\\bi must (?:decline|refuse)",
      "作为一个?(?:人工智能|ai|AI|语言模型)",
      "(?:抱歉|对不起)[，,]?\\s*(?:我)?(?:无法|不能)",
      "我无法(?:回答|提供|完成|满足)",
    ].join("|"),
    "iu",
  ),
);

/** A refusal or an "as an AI" disclaimer in the answer. */
export function isRefusal(answer: string): boolean {
  return REFUSAL.test(answer.slice(0, 600));
}

/** The answer repeats the instruction (the same text, or the instruction with a few words added). */
export function echoesInstruction(instruction: string, answer: string): boolean {
  const a = normalise(answer);
  const q = normalise(instruction);
  if (a === "" || q.length < 8) return false;
  if (a === q) return true;
  if (a.startsWith(q) && q.length >= 0.8 * a.length) return true;
  // Every answer word comes from the instruction, and it keeps most of them.
  const aw = words(a);
  const qw = words(q);
  if (aw.length < 4) return false;
  const qs = new Set(qw);
  return aw.every((w) => qs.has(w)) && aw.length >= 0.8 * qw.length;
}

/** Tool-call arguments (or <tool_call> blocks in the text) that are not valid JSON; returns the first. */
export function badToolJson(messages: readonly Message[]): string | null {
  for (const m of messages) {
    if (m.role !== "assistant") continue;
    for (const call of m.tool_calls ?? []) {
      const args = call.function.arguments;
      if (typeof args === "string" && !parses(args)) return args;
    }
    for (const match of m.content.matchAll(/<tool_call>([\s\S]*?)(<\/tool_call>|$)/g)) {
      if (!parses(match[1]!.trim())) return match[1]!.trim();
    }
  }
  return null;
}

function parses(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}
