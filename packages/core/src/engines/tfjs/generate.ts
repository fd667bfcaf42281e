// Autoregressive generation with a KV cache: greedy or sampled (temperature, top-p, seeded RNG).

import { type AdapterHooks, Model } from "../../model/llama.ts";
import { decodeLoop } from "../decode-loop.ts";
import type { GenerateOptions as EngineGenerateOptions, GenerateResult } from "../engine.ts";

/** Generation on a loaded model: the engine's options plus the method's hooks. */
export interface GenerateOptions extends EngineGenerateOptions {
  /** Adapter hooks (LoRA, prefixes) applied while generating. */
  hooks?: AdapterHooks;
}

export { sampleToken, seededRandom } from "../decode-loop.ts";
export type { GenerateResult };

/** Generates a continuation of `promptIds` (one sequence). */
export async function generate(
  model: Model,
  promptIds: readonly number[],
  opts: GenerateOptions = {},
): Promise<GenerateResult> {
  const limit = model.config.maxPositionEmbeddings;
  const cache = model.newCache();
  try {
    return await decodeLoop(promptIds, opts, {
      fits: (n) => cache.length + n <= limit,
      async next(input) {
        const t = model.lastLogitsTensor(
          { batch: 1, seqLen: input.length, ids: Int32Array.from(input) },
          { cache, hooks: opts.hooks },
        );
        const logits = await t.data();
        t.dispose();
        return logits;
      },
    });
  } finally {
    Model.disposeCache(cache);
  }
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
