// A building block of a method (LoRA, an NF4 base, prefixes, token rows) and how blocks combine.
import type * as tf from "@tensorflow/tfjs-core";
import type { AdapterHooks, LinearHook } from "../llama.ts";

/** One building block of a method: its trainable variables and the hooks it adds to a forward pass. */
export interface Piece {
  readonly trainable: readonly [string, tf.Variable][];
  hooks(training: boolean, seed: number): AdapterHooks;
  dispose(): void;
}

/**
 * Combines the hooks of several pieces. Linear hooks compose in order, each over the one before
 * (y = f2(x, x => f1(x, base))): an NF4 base listed before LoRA gives QLoRA. Other hooks come from one piece.
 */
export function combineHooks(parts: AdapterHooks[]): AdapterHooks {
  const out: AdapterHooks = {};
  for (const h of parts) {
    for (const [k, v] of Object.entries(h)) {
      if (v === undefined) continue;
      if (k === "linear" && out.linear) out.linear = composeLinear(out.linear, v as LinearHook);
      else if (k in out) throw new Error(`two method pieces both set the "${k}" hook`);
      else (out as Record<string, unknown>)[k] = v;
    }
  }
  return out;
}

/** `outer` over `inner`: the linear beneath `outer` is `inner` over the stored weight. */
export function composeLinear(inner: LinearHook, outer: LinearHook): LinearHook {
  return (x, base, site) => outer(x, (xi) => inner(xi, base, site), site);
}
