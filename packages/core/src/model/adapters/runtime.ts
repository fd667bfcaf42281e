// Builds a method's runtime from small pieces: whole base tensors that train, trainable token rows,
// LoRA, an NF4 base (QLoRA = NF4 base + LoRA) and P-tuning v2 prefixes.
import type * as tf from "@tensorflow/tfjs-core";
import { planParameters } from "../../compile/params.ts";
import type { Plan } from "../../compile/plan-schema.ts";
import type { BuildMethod, MethodRuntime } from "../../train/method-runtime.ts";
import type { Model } from "../llama.ts";
import { lora } from "./lora.ts";
import { combineHooks, type Method, methodOf, type Piece } from "./method.ts";
import { nf4Base } from "./nf4-base.ts";
import { prefix } from "./prefix.ts";
import { type MethodParts, saveMethod } from "./save.ts";
import { tokenRows } from "./token-rows.ts";
import { growVocabularySync, newTokens } from "./vocab.ts";

export interface MethodRuntimeWithParts extends MethodRuntime {
  readonly method: Method;
  readonly parts: MethodParts;
}

/** Ids of the rows that train as trainable tokens (frozen: all new tokens or the named ones; LoRA: all new). */
export function trainedTokenIds(plan: Plan, method: Method): number[] {
  const fresh = newTokens(plan);
  if (method.kind === "frozen") {
    const sel = method.trainable.newTokens;
    if (sel === false) return [];
    if (sel === true) return fresh.map((t) => t.id);
    return sel.map((content) => {
      const t = plan.tokenizer.added.find((a) => a.content === content);
      if (!t || t.id === null)
        throw new Error(
          `method.trainable.newTokens: "${content}" is not one of the added tokens (tokens.add)`,
        );
      return t.id;
    });
  }
  if ((method.kind === "lora" || method.kind === "qlora") && method.trainNewTokens)
    return fresh.map((t) => t.id);
  return [];
}

export function buildMethodRuntime(model: Model, plan: Plan, seed: number): MethodRuntimeWithParts {
  const method = methodOf(plan);
  growVocabularySync(model, plan, null);
  const cfg = model.config;
  const trainable = new Map<string, tf.Variable>();
  const pieces: Piece[] = [];
  const parts: MethodParts = { rows: null, lora: null, nf4: null, prefix: null };
  // Whole base tensors, exactly as the planner selects them.
  const { trainableTensors } = planParameters(cfg, cfg.vocabSize, newTokens(plan).length, method);
  for (const name of trainableTensors) trainable.set(name, model.w(name));
  const rowIds = trainedTokenIds(plan, method);
  if (rowIds.length) parts.rows = tokenRows(model, rowIds);
  if (method.kind === "qlora") parts.nf4 = nf4Base(model, method.quantization);
  if (method.kind === "lora" || method.kind === "qlora") parts.lora = lora(model, method, seed);
  if (method.kind === "prefix") parts.prefix = prefix(model, method, seed);
  for (const p of [parts.rows, parts.nf4, parts.lora, parts.prefix]) if (p) pieces.push(p);
  for (const p of pieces) for (const [name, v] of p.trainable) trainable.set(name, v);
  if (trainable.size === 0) throw new Error(`method "${method.kind}" leaves nothing to train`);
  const recompute = plan.memory.gradientCheckpointing;
  return {
    kind: method.kind,
    method,
    parts,
    trainable,
    decays: (name) => !/(norm\.weight|\.bias)$/.test(name),
    forward(training, stepSeed) {
      const hooks = combineHooks(pieces.map((p) => p.hooks(training, stepSeed)));
      return { hooks: Object.keys(hooks).length ? hooks : undefined, recompute };
    },
    save: (opts) => saveMethod(model, plan, method, parts, opts),
    dispose() {
      for (const p of pieces) p.dispose();
    },
  };
}

export const buildMethod: BuildMethod = buildMethodRuntime;
