// The contract between the training loop (src/train) and the tuning methods (src/methods):
// a method turns a loaded base model + the plan into trainable variables, forward hooks and artefacts.
import type * as tf from "@tensorflow/tfjs-core";
import type { Plan } from "../../compile/plan-schema.ts";
import type { BaseModel } from "../../export/base-model.ts";
import type { AdapterHooks, Model } from "../../model/llama.ts";

export interface MethodForward {
  hooks?: AdapterHooks;
  /** Gradient checkpointing (from the plan). */
  recompute?: boolean;
}

export interface SaveOptions {
  /** The run's output folder; the method writes `adapter/` and/or `model/` inside it. */
  outDir: string;
  save: Plan["output"]["save"];
  /** Folder with the base tokenizer files (copied, with the trained chat template and added tokens). */
  tokenizerDir: string | null;
  /** The chat template trained on (saved with the outputs so inference uses the same one). */
  chatTemplate: string | null;
  /** The base to record (PEFT's base_model_name_or_path): a hub id or set name, or a folder (written relative). */
  baseModel: BaseModel;
}

export interface MethodRuntime {
  readonly kind: Plan["method"]["kind"];
  /** The variables the optimizer updates, by a stable name (checkpoints and exports key on it). */
  readonly trainable: ReadonlyMap<string, tf.Variable>;
  /** Whether AdamW's decoupled weight decay applies (never to norms and biases by default). */
  decays(name: string): boolean;
  /** Hooks for one forward pass; `training` turns dropout on, `seed` makes it reproducible (and resumable). */
  forward(training: boolean, seed: number): MethodForward;
  /** Re-applies constraints after an optimizer step (e.g. only new token rows may change). */
  afterStep?(): void;
  /** Writes the method's artefacts (PEFT adapter and/or merged HF model); returns the files written. */
  save(opts: SaveOptions): Promise<string[]>;
  dispose(): void;
}

/** Builds a method's runtime over a loaded base model (the vocabulary already grown for added tokens). */
export type BuildMethod = (model: Model, plan: Plan, seed: number) => MethodRuntime;
