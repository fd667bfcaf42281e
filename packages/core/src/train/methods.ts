// Where the loop gets the tuning methods from (src/model/adapters), kept behind one function.
import type { Plan } from "../compile/plan-schema.ts";
import type { Model } from "../model/llama.ts";
import type { BuildMethod } from "./method-runtime.ts";

export interface Methods {
  buildMethod: BuildMethod;
  /** Grows the embedding (and lm_head) for the plan's added tokens before the method is built. */
  growVocabulary?: (model: Model, plan: Plan) => Model | Promise<Model>;
}

export class TrainError extends Error {
  override name = "TrainError";
}

/** The adapters module, loaded on first use (it is built beside this loop). */
export async function defaultMethods(): Promise<Methods> {
  const url = new URL("../model/adapters/index.ts", import.meta.url).href;
  let mod: Partial<Methods>;
  try {
    mod = (await import(/* @vite-ignore */ url)) as Partial<Methods>;
  } catch (e) {
    throw new TrainError(`the tuning methods could not be loaded: ${(e as Error).message}`);
  }
  if (typeof mod.buildMethod !== "function")
    throw new TrainError("src/model/adapters does not export buildMethod");
  return mod as Methods;
}
