// Whether a template closes assistant turns with an EOS / end-of-turn token (for the compiler's
// "EOS policy the template makes impossible" diagnostic).
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
  const { spans } = assistantSpans({
    template,
    context: tokenizer.templateContext(),
    messages: PROBE,
    candidates: endOfTurnCandidates(tokenizer.eosToken, tokenizer.specialTokens),
  });
  const found = spans.map((s) => s.endOfTurn);
  const first = found.find((t) => t !== null) ?? null;
  return { endOfTurn: first, eosAfterAssistant: found.length > 0 && found.every((t) => t !== null) };
}
