// Where each assistant turn sits in the rendered text, taken from the template's own rendering:
// {% generation %} blocks when the template has them, else unique markers around each message's
// content (checked to render the same text), else per-turn prefix rendering.
import { renderChatTemplate } from "../template/render.ts";
import type { Message } from "../types.ts";

/** One assistant turn: [start, contentEnd) is its output, [contentEnd, end) the end-of-turn text (may be empty). */
export interface AssistantSpan {
  /** Index of the message in the conversation. */
  message: number;
  start: number;
  contentEnd: number;
  end: number;
  /** The end-of-turn string found at the end of the turn, or null. */
  endOfTurn: string | null;
}

export interface SpanResult {
  text: string;
  spans: AssistantSpan[];
  method: "generation" | "markers" | "prefix";
}

// Private-use characters: content open (followed by a message-id char), content close, generation start/end.
const OPEN = "\uF8F0";
const CLOSE = "\uF8F1";
const GEN_START = "\uF8F2";
const GEN_END = "\uF8F3";
const ID_BASE = 0xe000;
const MARKER_CHARS = /[\uF8F0-\uF8F3]/;

const KNOWN_END_OF_TURN = [
  "<|im_end|>",
  "<|eot_id|>",
  "<|eom_id|>",
  "<end_of_turn>",
  "<|end|>",
  "<|END_OF_TURN_TOKEN|>",
  "<|endoftext|>",
  "<|end_of_text|>",
  "</s>",
  "<｜end▁of▁sentence｜>",
  "[|endofturn|]",
  "<|return|>",
  "<|end_of_turn|>",
  "<turn|>",
  "<end_of_utterance>",
  "<|eot|>",
  "<|eom|>",
  "<end_message>",
];

/** Role tokens that end a generation block in templates whose turns close on the next role (GLM). */
const NEXT_ROLE_TOKENS = ["<|user|>", "<|observation|>"];

/** Strings that can close an assistant turn: the EOS, known end-of-turn tokens, special tokens named like one. */
export function endOfTurnCandidates(eosToken: string | null, specialTokens: readonly string[]): string[] {
  const set = new Set<string>(KNOWN_END_OF_TURN);
  if (eosToken) set.add(eosToken);
  for (const s of specialTokens) if (/end|eot|eos|return/i.test(s)) set.add(s);
  // Longest first so "<|end|>" never shadows a longer token at the same position.
  return [...set].sort((a, b) => b.length - a.length);
}

/** Earliest candidate in text[from, to): [end, token]. Text before it (e.g. tool calls) belongs to the turn. */
function findEndOfTurn(text: string, from: number, to: number, candidates: readonly string[]) {
  let best: { start: number; end: number; token: string } | null = null;
  for (const c of candidates) {
    const i = text.indexOf(c, from);
    if (i < 0 || i + c.length > to) continue;
    if (!best || i < best.start) best = { start: i, end: i + c.length, token: c };
  }
  return best;
}

/** Last candidate ending the block text[from, to), allowing trailing whitespace after it. */
function findTrailingEndOfTurn(text: string, from: number, to: number, candidates: readonly string[]) {
  let j = to;
  while (j > from && /\s/.test(text[j - 1]!)) j--;
  for (const c of candidates)
    if (j - c.length >= from && text.startsWith(c, j - c.length)) return { start: j - c.length, token: c };
  return null;
}

interface Parsed {
  text: string;
  /** Per message index: [start, end) of each place its content was rendered. */
  contents: Map<number, [number, number][]>;
  generations: [number, number][];
}

/** Removes the markers, recording where each content and generation block sits in the plain text. */
function parseMarkers(marked: string): Parsed | null {
  let text = "";
  let last = 0;
  const contents = new Map<number, [number, number][]>();
  const generations: [number, number][] = [];
  const openContent: [number, number][] = [];
  let genStart = -1;
  for (let i = 0; i < marked.length; i++) {
    const ch = marked[i]!;
    if (ch < "\uF8F0" || ch > "\uF8F3") continue;
    text += marked.slice(last, i);
    if (ch === OPEN) {
      const id = marked.charCodeAt(++i) - ID_BASE;
      openContent.push([id, text.length]);
    } else if (ch === CLOSE) {
      const open = openContent.pop();
      if (!open) return null;
      const list = contents.get(open[0]) ?? [];
      list.push([open[1], text.length]);
      contents.set(open[0], list);
    } else if (ch === GEN_START) {
      if (genStart >= 0) return null;
      genStart = text.length;
    } else {
      if (genStart < 0) return null;
      generations.push([genStart, text.length]);
      genStart = -1;
    }
    last = i + 1;
  }
  if (openContent.length || genStart >= 0) return null;
  return { text: text + marked.slice(last), contents, generations };
}

/** Wraps the non-whitespace core of each string content so that strip()/trim in templates keep working. */
function markContent(m: Message, i: number): Message {
  // Empty contents stay as they are (a marker would make them truthy); their turn is found by prefix.
  if (typeof m.content !== "string" || m.content.trim() === "") return m;
  const lead = /^\s*/.exec(m.content)![0];
  const core = m.content.slice(lead.length).trimEnd();
  const trail = m.content.slice(lead.length + core.length);
  return { ...m, content: lead + OPEN + String.fromCharCode(ID_BASE + i) + core + CLOSE + trail };
}

interface SpanOptions {
  template: string;
  context: Record<string, unknown>;
  messages: readonly Message[];
  candidates: readonly string[];
  name?: string;
}

function render(
  opts: SpanOptions,
  messages: readonly unknown[],
  addGenerationPrompt: boolean,
  generation = false,
) {
  return renderChatTemplate(
    opts.template,
    { ...opts.context, messages, add_generation_prompt: addGenerationPrompt },
    generation
      ? { name: opts.name, generationMarkers: { start: GEN_START, end: GEN_END } }
      : { name: opts.name },
  );
}

function renderMarked(opts: SpanOptions, text: string, generation: boolean): Parsed | null {
  let out: string;
  try {
    out = render(opts, opts.messages.map(markContent), false, generation);
  } catch {
    return null;
  }
  const parsed = parseMarkers(out);
  return parsed && parsed.text === text ? parsed : null;
}

/** Content starts sorted, to bound the search for an end-of-turn token. */
function contentStarts(parsed: Parsed): number[] {
  return [...parsed.contents.values()].flatMap((l) => l.map(([a]) => a)).sort((a, b) => a - b);
}

function fromGeneration(opts: SpanOptions, text: string): AssistantSpan[] | null {
  const trailing = [...opts.candidates, ...NEXT_ROLE_TOKENS];
  const parsed = renderMarked(opts, text, true);
  let owners: number[];
  let blocks: [number, number][];
  if (parsed) {
    blocks = parsed.generations;
    // A block belongs to the last assistant whose content started before the block ends.
    const starts = opts.messages.flatMap((m, i) =>
      m.role === "assistant" ? (parsed.contents.get(i) ?? []).map(([a]) => [a, i] as const) : [],
    );
    owners = blocks.map(([, end]) => {
      let owner = -1;
      for (const [a, i] of starts) if (a <= end) owner = i;
      return owner;
    });
  } else {
    // Contents rewritten by the template: map blocks to assistant turns in order.
    const plain = parseMarkers(render(opts, opts.messages, false, true));
    if (!plain || plain.text !== text) return null;
    blocks = plain.generations;
    const assistants = opts.messages.flatMap((m, i) => (m.role === "assistant" ? [i] : []));
    if (blocks.length !== assistants.length) return null;
    owners = assistants;
  }
  const spans: AssistantSpan[] = [];
  blocks.forEach(([start, end], k) => {
    const prev = spans.at(-1);
    // Several blocks of one turn (content, then end-of-turn) make one span.
    if (prev && prev.message === owners[k] && owners[k] !== -1) {
      prev.end = end;
    } else spans.push({ message: owners[k]!, start, contentEnd: end, end, endOfTurn: null });
  });
  for (const s of spans) {
    const eot = findTrailingEndOfTurn(text, s.start, s.end, trailing);
    s.contentEnd = eot ? eot.start : s.end;
    s.endOfTurn = eot?.token ?? null;
  }
  return spans;
}

function fromMarkers(opts: SpanOptions, text: string): AssistantSpan[] | null {
  const parsed = renderMarked(opts, text, false);
  if (!parsed) return null;
  const starts = contentStarts(parsed);
  const spans: AssistantSpan[] = [];
  for (let i = 0; i < opts.messages.length; i++) {
    if (opts.messages[i]!.role !== "assistant") continue;
    const places = parsed.contents.get(i) ?? [];
    // Rendered twice (e.g. also quoted in a system prompt) is ambiguous.
    if (places.length > 1) return null;
    const place = places[0];
    if (!place) {
      // No content rendered (e.g. content null beside tool calls): locate the turn by prefix rendering.
      let prevEnd = 0;
      for (let j = 0; j < i; j++)
        for (const [, e] of parsed.contents.get(j) ?? []) prevEnd = Math.max(prevEnd, e);
      const span = prefixSpan(opts, text, i, starts, prevEnd);
      if (!span) return null;
      spans.push(span);
      continue;
    }
    const [start, contentEnd] = place;
    const limit = starts.find((a) => a >= contentEnd && a > start) ?? text.length;
    const eot = findEndOfTurn(text, contentEnd, limit, opts.candidates);
    spans.push({
      message: i,
      start,
      contentEnd,
      end: eot ? eot.end : contentEnd,
      endOfTurn: eot?.token ?? null,
    });
  }
  return spans;
}

/** One assistant turn located as "after the prompt rendered with add_generation_prompt". */
function prefixSpan(
  opts: SpanOptions,
  text: string,
  i: number,
  starts: number[],
  prevEnd: number,
): AssistantSpan | null {
  let before: string;
  let start: number;
  try {
    before = render(opts, opts.messages.slice(0, i), true);
    if (text.startsWith(before)) start = before.length;
    else {
      // Earlier turns render differently once later ones exist (e.g. reasoning kept only after the last
      // user turn): take what the prompt adds after the previous message's content (its closing and the
      // assistant header) and match it in the text from there.
      const marked = parseMarkers(render(opts, opts.messages.slice(0, i).map(markContent), true));
      if (!marked) return null;
      let lastClose = 0;
      for (const places of marked.contents.values())
        for (const [, e] of places) lastClose = Math.max(lastClose, e);
      const suffix = marked.text.slice(lastClose);
      let n = 0;
      while (n < suffix.length && text[prevEnd + n] === suffix[n]) n++;
      // Partly matched (the prompt would open a think block, the turn opens a tool call): keep only
      // whole pieces of the header, up to its last ">", "]" or newline.
      if (n < suffix.length) while (n > 0 && !">]\n".includes(suffix[n - 1]!)) n--;
      start = prevEnd + n;
    }
  } catch {
    return null;
  }
  const limit = starts.find((a) => a > start) ?? text.length;
  const eot = findEndOfTurn(text, start, limit, opts.candidates);
  if (eot) return { message: i, start, contentEnd: eot.start, end: eot.end, endOfTurn: eot.token };
  // No end-of-turn token: the turn ends where the conversation up to it ends.
  let end = limit;
  try {
    const through = render(opts, opts.messages.slice(0, i + 1), false);
    if (text.startsWith(through) && through.length > start) end = Math.min(end, through.length);
  } catch {}
  return { message: i, start, contentEnd: end, end, endOfTurn: null };
}

function fromPrefixes(opts: SpanOptions, text: string): AssistantSpan[] | null {
  const spans: AssistantSpan[] = [];
  for (let i = 0; i < opts.messages.length; i++) {
    if (opts.messages[i]!.role !== "assistant") continue;
    const before = render(opts, opts.messages.slice(0, i), true);
    const through = render(opts, opts.messages.slice(0, i + 1), false);
    if (!text.startsWith(before) || !text.startsWith(through) || through.length < before.length) return null;
    const eot = findTrailingEndOfTurn(text, before.length, through.length, opts.candidates);
    spans.push({
      message: i,
      start: before.length,
      contentEnd: eot ? eot.start : through.length,
      end: eot ? eot.start + eot.token.length : through.length,
      endOfTurn: eot?.token ?? null,
    });
  }
  return spans;
}

/** Renders the conversation and finds every assistant turn in the text. */
export function assistantSpans(opts: SpanOptions): SpanResult {
  const text = render(opts, opts.messages, false);
  const hasMarkers = opts.messages.some((m) => typeof m.content === "string" && MARKER_CHARS.test(m.content));
  if (/\{%-?\s*generation\s*-?%\}/.test(opts.template) && !hasMarkers) {
    const spans = fromGeneration(opts, text);
    if (spans) return { text, spans, method: "generation" };
  }
  if (!hasMarkers) {
    const spans = fromMarkers(opts, text);
    if (spans) return { text, spans, method: "markers" };
  }
  const spans = fromPrefixes(opts, text);
  if (spans) return { text, spans, method: "prefix" };
  throw new Error(
    `chat template "${opts.name ?? "template"}": cannot locate assistant turns (the template rewrites message contents and is not prefix-stable)`,
  );
}
