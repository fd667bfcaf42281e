// Builds a method's runtime from the plan: whole base tensors that train and trainable token rows (common to
// every method), then the method's own pieces from its definition (LoRA, an NF4 base, prefixes).
import * as tf from "@tensorflow/tfjs-core";
import { planParameters } from "../compile/params.ts";
import type { Plan } from "../compile/plan-schema.ts";
import type { BuildMethod, MethodRuntime } from "../engines/tfjs/method-runtime.ts";
import { lora } from "../model/adapters/lora.ts";
import { nf4Base } from "../model/adapters/nf4-base.ts";
import { combineHooks, type Piece } from "../model/adapters/piece.ts";
import { prefix } from "../model/adapters/prefix.ts";
import { tokenRows } from "../model/adapters/token-rows.ts";
import type { LinearModule } from "../model/config.ts";
import type { Model } from "../model/llama.ts";
import { type Method, methodDefinition } from "./registry.ts";
import { type MethodParts, saveMethod } from "./save.ts";
import { growVocabularySync, newTokens } from "./vocab.ts";

export interface MethodRuntimeWithParts extends MethodRuntime {
  readonly method: Method;
  readonly parts: MethodParts;
}

/** Ids of the rows that train as trainable tokens (frozen: all new tokens or the named ones; LoRA: all new). */
export function trainedTokenIds(plan: Plan, method: Method): number[] {
  const sel = methodDefinition(method).newTokenRows(method);
  if (sel === false) return [];
  const fresh = newTokens(plan);
  if (sel === true) return fresh.map((t) => t.id);
  return sel.map((content) => {
    const t = plan.tokenizer.added.find((a) => a.content === content);
    if (!t || t.id === null)
      throw new Error(`method.trainable.newTokens: "${content}" is not one of the added tokens (tokens.add)`);
    return t.id;
  });
}

export function buildMethodRuntime(model: Model, plan: Plan, seed: number): MethodRuntimeWithParts {
  const method = plan.method;
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
  const settings = methodDefinition(method).pieces(method);
  parts.nf4 = settings.nf4 ? nf4Base(model, settings.nf4) : null;
  const nf4 = parts.nf4;
  // DoRA normalises the weight LoRA sits on: an NF4 base's dequantized one (as PEFT's QDoRA does).
  const weight = nf4
    ? (layer: number, m: LinearModule) =>
        tf.tidy(() =>
          tf.transpose(tf.tensor2d(nf4.dequantized(layer, m.name), [m.outFeatures, m.inFeatures])),
        ) as tf.Tensor2D
    : undefined;
  parts.lora = settings.lora ? lora(model, settings.lora, seed, weight) : null;
  parts.prefix = settings.prefix ? prefix(model, settings.prefix, seed) : null;
  // An NF4 base before LoRA: LoRA's linear hook composes over the quantized base.
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
