// Rendered conversation -> input ids + labels (-100 where the loss is masked). The whole text is
// tokenized once; labels come from each token's character offsets, so ids always equal
// tokenizer.encode(text) whatever BPE merges happen across turn boundaries.
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { type Conversation, IGNORE_INDEX, type Message } from "../types.ts";
import { type AssistantSpan, assistantSpans, endOfTurnCandidates } from "./spans.ts";

export type LossOn = "assistant" | "all" | "last";
export type EosPolicy = "turn" | "last" | "none";

export interface TokenizeConversationOptions {
  tokenizer: Tokenizer;
  template: string;
  /** Train on every assistant turn (default), on all tokens, or on the last assistant turn only. */
  lossOn?: LossOn;
  /** Train the end-of-turn token after every trained turn (default), after the last one, or never. */
  eos?: EosPolicy;
  /** Truncate (keep the first maxLength tokens). */
  maxLength?: number;
  /** Extra template variables (e.g. enable_thinking). */
  extra?: Record<string, unknown>;
  /** Template name for error messages. */
  templateName?: string;
}

export interface TokenizedConversation {
  text: string;
  inputIds: number[];
  labels: number[];
}

/** Character ranges [start, end) that are trained, from the spans and the policies. */
export function trainedRanges(
  spans: readonly AssistantSpan[],
  conv: Conversation,
  lossOn: LossOn,
  eos: EosPolicy,
): [number, number][] {
  const eligible = spans.filter((s) => conv.messages[s.message]?.train !== false);
  const chosen = lossOn === "last" ? eligible.slice(-1) : eligible;
  return chosen.map((s, k) => {
    const withEos = eos === "turn" || (eos === "last" && k === chosen.length - 1);
    return [s.start, withEos ? s.end : s.contentEnd];
  });
}

/** Labels for tokens at `offsets`: a token is trained when it overlaps a trained range (HF char_to_token). */
export function labelsFromRanges(
  ids: readonly number[],
  offsets: readonly [number, number][],
  ranges: readonly [number, number][],
): number[] {
  const sorted = [...ranges].filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  const labels = new Array<number>(ids.length);
  let r = 0;
  for (let i = 0; i < ids.length; i++) {
    const [a, b] = offsets[i]!;
    while (r < sorted.length && sorted[r]![1] <= a) r++;
    const range = sorted[r];
    labels[i] = range && b > a && range[0] < b ? ids[i]! : IGNORE_INDEX;
  }
  return labels;
}

const candidateCache = new WeakMap<Tokenizer, { vocab: number; list: string[] }>();

/** End-of-turn candidates per tokenizer, recomputed when tokens were added. */
function candidatesFor(tokenizer: Tokenizer): string[] {
  const hit = candidateCache.get(tokenizer);
  if (hit && hit.vocab === tokenizer.vocabSize) return hit.list;
  const list = endOfTurnCandidates(tokenizer.eosToken, tokenizer.specialTokens);
  candidateCache.set(tokenizer, { vocab: tokenizer.vocabSize, list });
  return list;
}

/**
 * A turn of only tool calls whose rendered text names none of them: the template dropped the calls, and
 * training it would teach an empty answer (its header and end token), so it stays out of the loss.
 */
function droppedToolCallTurn(m: Message | undefined, rendered: string): boolean {
  if (!m?.tool_calls?.length || (typeof m.content === "string" && m.content.trim() !== "")) return false;
  return !m.tool_calls.some((c) => rendered.includes(c.function.name));
}

export function tokenizeConversation(
  conv: Conversation,
  opts: TokenizeConversationOptions,
): TokenizedConversation {
  const { tokenizer } = opts;
  const context: Record<string, unknown> = { ...tokenizer.templateContext(), ...opts.extra };
  if (conv.tools !== undefined) context.tools = conv.tools;
  const messages = conv.messages.map(({ train: _train, ...m }) => m);
  const lossOn = opts.lossOn ?? "assistant";
  const { text, spans: found } = assistantSpans({
    template: opts.template,
    context,
    messages,
    candidates: candidatesFor(tokenizer),
    name: opts.templateName,
  });
  const spans = found.filter(
    (s) => !droppedToolCallTurn(conv.messages[s.message], text.slice(s.start, s.end)),
  );
  const { ids, offsets } = tokenizer.encodeWithOffsets(text, { addSpecialTokens: false });
  let labels: number[];
  if (lossOn === "all") labels = ids.slice();
  else labels = labelsFromRanges(ids, offsets, trainedRanges(spans, conv, lossOn, opts.eos ?? "turn"));
  let inputIds = ids;
  if (opts.maxLength !== undefined && inputIds.length > opts.maxLength) {
    inputIds = inputIds.slice(0, opts.maxLength);
    labels = labels.slice(0, opts.maxLength);
  }
  return { text, inputIds, labels };
}

export interface TokenizeCompletionOptions {
  /** Append the EOS token ("last"/"turn", default) or not ("none"). */
  eos?: EosPolicy;
  maxLength?: number;
  /** Add the tokenizer's own special tokens (BOS). Default true. */
  addSpecialTokens?: boolean;
}

/** Plain text for continued pre-training / completion: loss on every token, EOS appended by policy. */
export function tokenizeCompletion(
  text: string,
  tokenizer: Tokenizer,
  opts: TokenizeCompletionOptions = {},
): TokenizedConversation {
  let ids = tokenizer.encode(text, { addSpecialTokens: opts.addSpecialTokens ?? true });
  const eosId = tokenizer.eosTokenId;
  if ((opts.eos ?? "turn") !== "none" && eosId !== null && ids.at(-1) !== eosId) ids = [...ids, eosId];
  if (opts.maxLength !== undefined && ids.length > opts.maxLength) ids = ids.slice(0, opts.maxLength);
  return { text, inputIds: ids, labels: ids.slice() };
}
