// The decoding loop every engine shares: feed the prompt, pick each next token (greedy, or sampled with
// temperature and top-p from a seeded RNG), stop on a stop id, the callback, a stop string, the length
// or a full context. An engine supplies only its cached forward step.
import { mulberry32 } from "../util/mulberry32.ts";
import type { GenerateOptions, GenerateResult } from "./engine.ts";

export const DEFAULT_MAX_NEW_TOKENS = 128;

/** One engine's cached forward: room left in its context, and the last position's logits after `input`. */
export interface DecodeStep {
  fits(inputLength: number): boolean;
  next(input: readonly number[]): Promise<ArrayLike<number>> | ArrayLike<number>;
}

/** mulberry32: small, fast, seedable. */
export const seededRandom = mulberry32;

/** Picks the next token from one row of logits. */
export function sampleToken(
  logits: ArrayLike<number>,
  temperature: number,
  topP: number,
  rand: () => number,
): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  if (temperature <= 0) return best;
  const max = logits[best]!;
  const probs = new Float64Array(logits.length);
  let z = 0;
  for (let i = 0; i < logits.length; i++) {
    probs[i] = Math.exp((logits[i]! - max) / temperature);
    z += probs[i]!;
  }
  let order = Array.from({ length: logits.length }, (_, i) => i);
  let mass = z;
  if (topP < 1) {
    order.sort((a, b) => probs[b]! - probs[a]!);
    let cum = 0;
    let keep = 0;
    while (keep < order.length && cum < topP * z) cum += probs[order[keep++]!]!;
    order = order.slice(0, Math.max(1, keep));
    mass = cum;
  }
  let r = rand() * mass;
  for (const i of order) {
    r -= probs[i]!;
    if (r <= 0) return i;
  }
  return order[order.length - 1]!;
}

export async function decodeLoop(
  promptIds: readonly number[],
  opts: GenerateOptions,
  step: DecodeStep,
): Promise<GenerateResult> {
  if (promptIds.length === 0) throw new Error("generate: the prompt is empty (add a BOS token)");
  const max = opts.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS;
  const temperature = opts.temperature ?? 0;
  const topP = opts.topP ?? 1;
  if (!(topP > 0 && topP <= 1)) throw new RangeError(`generate: topP must be in (0, 1], got ${topP}`);
  const rand = seededRandom(opts.seed ?? 0);
  const stopIds = new Set(opts.stopIds ?? []);
  const out: number[] = [];
  let stopReason: GenerateResult["stopReason"] = "max_new_tokens";
  let text: string | undefined;
  let input = [...promptIds];
  while (out.length < max) {
    if (!step.fits(input.length)) {
      stopReason = "context_full";
      break;
    }
    const next = sampleToken(await step.next(input), temperature, topP, rand);
    out.push(next);
    if (stopIds.has(next)) {
      stopReason = "stop_id";
      break;
    }
    if (opts.onToken?.(next) === false) {
      stopReason = "callback";
      break;
    }
    if (opts.stopStrings?.length && opts.decode) {
      const s = opts.decode(out);
      const hit = opts.stopStrings.map((x) => s.indexOf(x)).filter((i) => i >= 0);
      if (hit.length) {
        text = s.slice(0, Math.min(...hit));
        stopReason = "stop_string";
        break;
      }
    }
    input = [next];
  }
  if (opts.decode && text === undefined) text = opts.decode(out);
  return text === undefined ? { ids: out, stopReason } : { ids: out, text, stopReason };
}
