// What one tuning method is, in one place: its recipe schema, what trains and what it costs, how it is built
// on a loaded model from flat settings, what it writes, and what the export targets map it to. Plain data in
// and out, so the planner, the exports and any engine read the same decisions.

import type { z } from "zod";
import type { LoraOptions } from "../model/adapters/lora.ts";
import type { NF4Options } from "../model/adapters/nf4.ts";
import type { PrefixOptions } from "../model/adapters/prefix.ts";
import type { ModelConfig } from "../model/config.ts";
import type { LinearName } from "../model/llama.ts";
import type { DiagnosticCode, WarningId } from "../recipe/catalogue.ts";

/** A base tensor as the parameter planner lists it. */
export interface TensorRef {
  name: string;
  layer: number | null;
  kind: "embedding" | "lm_head" | "norm" | "linear" | "bias";
}

/** Trainable parameters a method adds beside the base tensors (adapters), by group. */
export interface AddedParameters {
  name: string;
  parameters: number;
  tensors: number;
}

/** A training feature not every engine implements (an engine passes over plans that use one it lacks). */
export type EngineFeature = "dora" | "neftune" | "modules-to-save" | "pissa";

export interface EngineFeatureUse {
  feature: EngineFeature;
  /** Where the recipe asks for it, e.g. `method.dora`. */
  path: string;
}

/** Trainable tensors that take their own learning rate: the base rate times `ratio` (e.g. LoRA+'s B). */
export interface LearningRateGroup {
  /** For people (the plan). */
  name: string;
  /** A regular expression over trainable tensor names (the engines' names, e.g. `...q_proj.lora_B`). */
  pattern: string;
  ratio: number;
}

/** A recipe-level problem a method finds in its own settings. */
export type MethodProblem = {
  path: (string | number)[];
  message: string;
  hint?: string;
} & ({ severity: "error"; code: DiagnosticCode } | { severity: "warning"; code: WarningId });

/** What a method writes into an export target that it cannot express exactly. */
export interface ExportNote {
  kind: "approximate" | "unsupported";
  path: (string | number)[];
  message: string;
  hint?: string;
}

/** Whole base tensors that train, as the export targets spell parameter patterns. */
export interface WholeTensors {
  /** Decoder layers that train entirely, ascending. */
  layers: number[];
  /** Regular expressions over HF parameter names (never the embedding or lm_head). */
  modules: string[];
  embedding: boolean;
  lmHead: boolean;
  norms: boolean;
}

/** The facts of one export the method mapping reads. */
export interface ExportFacts {
  tied: boolean;
  numLayers: number;
  /** `scale.strategy` (ddp, zero1-3, fsdp). */
  strategy: string;
  /** torch dtype of training (bfloat16, float16, float32). */
  dtype: string;
  /** Ids (as the target numbers them) of the new tokens whose rows this method trains. */
  newTokenIds: number[];
  /** Whether the recipe adds tokens new to the vocabulary at all. */
  anyNewTokens: boolean;
  /** PEFT's `trainable_token_indices` for these ids (a dict by module when lm_head is untied). */
  tokenIndices(ids: number[]): number[] | { embed_tokens: number[]; lm_head: number[] };
  save: "adapter" | "merged" | "both";
  /** The HF module names of linear roles (e.g. q_proj), as the model's family names them. */
  targetModules(roles: readonly string[]): string[];
}

/** The TRL export's model.yaml sections for a method. */
export interface TrlMapping {
  quantization?: Record<string, unknown>;
  peft?: { class: string; kwargs: Record<string, unknown> };
  /** Whole tensors train (train.py unfreezes them by regex). */
  wholeTensors?: WholeTensors;
  /** The model is a PEFT model (checkpointing turns reentrant under ZeRO-3). */
  usesPeft: boolean;
  notes: ExportNote[];
}

/** The Axolotl export's method fields. */
export interface AxolotlMapping {
  fields: Record<string, unknown>;
  /** Whole tensors (and the new tokens' rows) that train, as `unfrozen_parameters`. */
  wholeTensors?: WholeTensors;
  notes: ExportNote[];
  /** Lines for the YAML's header. */
  header: string[];
}

/**
 * The pieces a method adds, as flat settings any engine builds from (token rows and whole tensors are
 * common to all and built beside). The tfjs engine builds them in methods/runtime.ts, the native one in
 * engines/native/methods.ts.
 */
export interface PieceSettings {
  /** An NF4 base under the frozen linears (built first: LoRA composes over it). */
  nf4?: Required<NF4Options>;
  lora?: LoraOptions;
  prefix?: PrefixOptions;
}

export interface MethodDefinition<M extends { kind: string } = { kind: string }> {
  readonly kind: M["kind"];
  /** The recipe's `method` when `kind` names this method; the recipe and plan unions derive from it. */
  readonly schema: z.ZodType<M, unknown>;
  /** Its name for people (adapter READMEs). */
  readonly label: string;
  /** The PEFT adapter it writes, or null when its training lives in the weights (merged model only). */
  readonly adapter: "lora" | "prefix" | null;
  /** Whether what trains can be folded into the base weights (a merged model). */
  readonly mergeable: boolean;
  /** The learning rate when the recipe sets none. */
  readonly defaultLearningRate: number;
  /** Learning rates it usually takes (the high-learning-rate warning). */
  readonly learningRates: "full" | "adapter";

  /** Base tensors that train whole. */
  trainsTensor(m: M, t: TensorRef, cfg: ModelConfig): boolean;
  /** Rows of added tokens that train on their own (PEFT trainable tokens): all, the named ones, or none. */
  newTokenRows(m: M): boolean | readonly string[];
  /** Whether the rows of added tokens learn at all (in whole tables or as rows). */
  addedRowsLearn(m: M): boolean;
  /** How to make them learn when they do not (default: set method.trainNewTokens: true). */
  readonly addedRowsHint?: string;
  /** NF4 storage of the frozen base linears, or null. */
  quantizedBase(m: M): Required<NF4Options> | null;
  /** Trainable parameters it adds beside the base tensors. */
  addedParameters(m: M, cfg: ModelConfig): AddedParameters[];

  /** Memory model inputs. */
  memory(m: M): {
    /** Virtual tokens attention sees in front of every sequence. */
    prefixLength: number;
    /** The base linears are frozen (they keep no input for a weight gradient). */
    frozenLinears: boolean;
    /** LoRA adapters: the linears they sit on and their rank (each keeps its input and x·A). */
    adapters: { targets: "all-linear" | readonly LinearName[]; rank: number } | null;
    /** Whether the loss computes a gradient for the head, given whether new rows exist. */
    headTrains(newRows: boolean): boolean;
  };

  /** Problems in its settings that need the recipe's added tokens (parsing checked the rest). */
  check?(m: M, added: readonly string[]): MethodProblem[];
  /** Problems in its settings that need the model's configuration (e.g. layers past the model's). */
  checkModel?(m: M, cfg: ModelConfig): MethodProblem[];
  /** Why keys of other methods do not apply here, by key (the unknown-key hint adds it). */
  readonly foreignKeys?: Readonly<Record<string, string>>;
  /** A warning when probes run: its token rows never train. */
  readonly probesUntrained?: string;

  /** Tensors that take their own learning rate (none: all take the base rate). */
  learningRateGroups?(m: M): LearningRateGroup[];
  /** Training features it uses that not every engine implements (an engine without them is passed over). */
  engineFeatures?(m: M): EngineFeatureUse[];

  /** The pieces it adds, as settings an engine builds on a loaded model (the vocabulary already grown). */
  pieces(m: M): PieceSettings;

  readonly exports: {
    /** Why gradient checkpointing is turned off in the export, when it cannot be used. */
    readonly noCheckpointing?: string;
    trl(m: M, f: ExportFacts): TrlMapping;
    axolotl(m: M, f: ExportFacts & { changedSpecialTokens: ("bos" | "eos")[] }): AxolotlMapping;
  };
}
