// Where the tfjs engine gets the tuning methods from (src/methods), kept behind one interface so
// tests can swap in their own.
import type { Plan } from "../../compile/plan-schema.ts";
import { buildMethod, growVocabulary } from "../../methods/index.ts";
import type { Model } from "../../model/llama.ts";
import type { BuildMethod } from "./method-runtime.ts";

export interface Methods {
  buildMethod: BuildMethod;
  /** Grows the embedding (and lm_head) in place for the plan's added tokens before the method is built. */
  growVocabulary?: (model: Model, plan: Plan) => unknown;
}

/** The six methods of src/methods. */
export const defaultMethods: Methods = {
  buildMethod,
  growVocabulary: (model, plan) => growVocabulary(model, plan),
};
