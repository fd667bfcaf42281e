// Autoregressive generation with a KV cache: greedy or sampled (temperature, top-p, seeded RNG).

import { type AdapterHooks, Model } from "../../model/llama.ts";
import { mulberry32 } from "../../util/mulberry32.ts";
import type { GenerateOptions as EngineGenerateOptions, GenerateResult } from "../engine.ts";

/** Generation on a loaded model: the engine's options plus the method's hooks. */
export interface GenerateOptions extends EngineGenerateOptions {
  /** Adapter hooks (LoRA, prefixes) applied while generating. */
  hooks?: AdapterHooks;
}

export type { GenerateResult };

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

/** Generates a continuation of `promptIds` (one sequence). */
export async function generate(
  model: Model,
  promptIds: readonly number[],
  opts: GenerateOptions = {},
): Promise<GenerateResult> {
  if (promptIds.length === 0) throw new Error("generate: the prompt is empty (add a BOS token)");
  const max = opts.maxNewTokens ?? 128;
  const temperature = opts.temperature ?? 0;
  const topP = opts.topP ?? 1;
  if (!(topP > 0 && topP <= 1)) throw new RangeError(`generate: topP must be in (0, 1], got ${topP}`);
  const rand = seededRandom(opts.seed ?? 0);
  const stopIds = new Set(opts.stopIds ?? []);
  const limit = model.config.maxPositionEmbeddings;
  const cache = model.newCache();
  const out: number[] = [];
  let stopReason: GenerateResult["stopReason"] = "max_new_tokens";
  let text: string | undefined;
  try {
    let input = [...promptIds];
    while (out.length < max) {
      if (cache.length + input.length > limit) {
        stopReason = "context_full";
        break;
      }
      const t = model.lastLogitsTensor(
        { batch: 1, seqLen: input.length, ids: Int32Array.from(input) },
        { cache, hooks: opts.hooks },
      );
      const logits = await t.data();
      t.dispose();
      const next = sampleToken(logits, temperature, topP, rand);
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
  } finally {
    Model.disposeCache(cache);
  }
  if (opts.decode && text === undefined) text = opts.decode(out);
  return text === undefined ? { ids: out, stopReason } : { ids: out, text, stopReason };
}

/** The model's stop ids from its config (eos_token_id, one or many). */
export function configStopIds(model: Model): number[] {
  const e = model.config.eosTokenId;
  return e === null ? [] : Array.isArray(e) ? e : [e];
}

/** A loaded model (and a method's hooks) as something that continues prompts, e.g. for `evaluateProbes`. */
export function modelGenerator(model: Model, hooks?: AdapterHooks) {
  return {
    generate: (promptIds: readonly number[], opts: EngineGenerateOptions = {}) =>
      generate(model, promptIds, { ...opts, ...(hooks ? { hooks } : {}) }),
  };
}
