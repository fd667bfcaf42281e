// The plan's model section back as a ModelConfig, for whoever needs the model from the plan alone.
import type { ModelConfig } from "../model/config.ts";
import type { Plan } from "./plan-schema.ts";

/**
 * The model the plan describes: its family, configuration, vocabulary and checkpoint dtype. The plan does not
 * record config.json's bos/eos ids (the tokenizer facts hold them), so they are null here.
 */
export function modelConfigOfPlan(plan: Plan): ModelConfig {
  const { config, architecture, vocab, dtype } = plan.model;
  return {
    architecture,
    vocabSize: vocab.model,
    ...config,
    bosTokenId: null,
    eosTokenId: null,
    torchDtype: dtype as ModelConfig["torchDtype"],
  };
}
