// Whether a template closes assistant turns with an EOS / end-of-turn token, and whether that marker is
// one real token of the tokenizer (for the compiler's end-token diagnostics). A marker found as text
// (e.g. chatml's "<|im_end|>") but split into plain pieces by the tokenizer is never a stop token.
import { renderChatTemplate, unguardedUndefined } from "../template/render.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import type { Message } from "../types.ts";
import { assistantSpans, endOfTurnCandidates } from "./spans.ts";

const PROBE: Message[] = [
  { role: "user", content: "Hi there." },
  { role: "assistant", content: "Hello! How can I help?" },
  { role: "user", content: "Tell me a fact." },
  { role: "assistant", content: "Water boils at 100 degrees Celsius at sea level." },
];

export interface TemplateEndOfTurn {
  /** The token that ends assistant turns (e.g. "<|im_end|>", "</s>"), or null when none follows them. */
  endOfTurn: string | null;
  /** True when every assistant turn of a probe conversation is followed by that token. */
  eosAfterAssistant: boolean;
}

export function templateEndOfTurn(template: string, tokenizer: Tokenizer): TemplateEndOfTurn {
  const { spans } = probeSpans(template, tokenizer);
  const found = spans.map((s) => s.endOfTurn);
  const first = found.find((t) => t !== null) ?? null;
  return { endOfTurn: first, eosAfterAssistant: found.length > 0 && found.every((t) => t !== null) };
}

function probeSpans(template: string, tokenizer: Tokenizer, messages: readonly Message[] = PROBE) {
  return assistantSpans({
    template,
    context: tokenizer.templateContext(),
    messages,
    candidates: endOfTurnCandidates(tokenizer.eosToken, tokenizer.specialTokens),
  });
}

export interface EndOfTurnTokens {
  /** The end marker text after each assistant turn of the probe (null where a turn has none). */
  markers: (string | null)[];
  /** The token ids the tokenizer makes of each turn's marker (empty where there is none). */
  ids: number[][];
  /** The marker when every turn ends in the same one and it is exactly one vocabulary token, else null. */
  token: string | null;
  /** That token's id, else null. */
  id: number | null;
}

/** How the end marker after each assistant turn is tokenized, in the full rendered text. */
export function endOfTurnTokens(template: string, tokenizer: Tokenizer): EndOfTurnTokens {
  const { text, spans } = probeSpans(template, tokenizer);
  const { ids, offsets } = tokenizer.encodeWithOffsets(text, { addSpecialTokens: false });
  const markers = spans.map((s) => s.endOfTurn);
  const perTurn = spans.map((s) => {
    if (s.endOfTurn === null) return [];
    const from = text.indexOf(s.endOfTurn, s.contentEnd);
    const to = from + s.endOfTurn.length;
    // Tokens overlapping the marker (a leading space may share its token, e.g. Llama-2's "▁</s>").
    return ids.filter((_, i) => offsets[i]![0] < to && offsets[i]![1] > from);
  });
  const first = markers[0] ?? null;
  const id = first === null ? undefined : tokenizer.tokenToId(first);
  const single =
    spans.length > 0 &&
    id !== undefined &&
    markers.every((m) => m === first) &&
    perTurn.every((t) => t.length === 1 && t[0] === id);
  return { markers, ids: perTurn, token: single ? first : null, id: single ? id! : null };
}

/** Strings that look like special tokens (`<|...|>`, `<...>`, `</...>`) in rendered text. */
export function markerLike(text: string): string[] {
  return [...new Set(text.match(/<\|[^<>|\s]+\|>|(?<!<)<\/?[A-Za-z][\w▁]*>(?!>)/g) ?? [])];
}

/** The probe rendered with a system message (without one where the template refuses it), for role markers. */
export function renderProbeWithSystem(template: string, tokenizer: Tokenizer): string {
  const context = { ...tokenizer.templateContext(), add_generation_prompt: false };
  const system: Message = { role: "system", content: "You are a helpful assistant." };
  try {
    return renderChatTemplate(template, { ...context, messages: [system, ...PROBE] });
  } catch {
    return renderChatTemplate(template, { ...context, messages: PROBE });
  }
}

/** Undefined variables the probe conversation's render uses unguarded (e.g. a misspelt `messages`). */
export function probeUndefined(template: string, tokenizer: Tokenizer): string[] {
  return unguardedUndefined(template, {
    ...tokenizer.templateContext(),
    add_generation_prompt: false,
    messages: PROBE,
  });
}
