// The compute seam: everything the training loop, evaluation, generation, checkpoints and exports need
// from an engine, in plain data (typed arrays and numbers in, numbers and typed arrays out). Only engines
// hold tensors; src/train drives them.
import type { Plan } from "../compile/plan-schema.ts";
import type { BaseModel } from "../export/base-model.ts";
import type { EngineFeature, EngineFeatureUse } from "../methods/definition.ts";
import type { Method } from "../methods/registry.ts";
import type { ModelConfig } from "../model/config.ts";

/** A micro-batch: rows of equal length (segment ids mark padding and packed sequences). */
export interface EngineMicroBatch {
  batch: number;
  seqLen: number;
  /** [batch * seqLen] token ids, row-major. */
  ids: Int32Array;
  /** [batch * seqLen] segment per token, 0 = padding; default all 1. */
  segments?: Int32Array;
  /** [batch * seqLen] RoPE positions; default the index within the token's segment. */
  positions?: Int32Array;
  /** Labels aligned with `ids` (-100 = not trained); the engine shifts them to next-token targets. */
  labels: Int32Array;
}

/** Sum of token losses over a micro-batch's trained tokens, and how many there were. */
export interface LossSum {
  lossSum: number;
  trainedTokens: number;
}

/** Where the base weights come from: a folder of HF safetensors, or a config initialised at random. */
export type ModelSource = { dir: string } | { config: ModelConfig; seed: number };

export interface EngineLoadSpec {
  /** The plan: model, added tokens, method and optimizer decisions. */
  plan: Plan;
  model: ModelSource;
}

export interface TensorShape {
  name: string;
  shape: number[];
}

export interface LoadedModel {
  /** The trainable tensors by stable name (checkpoints and exports key on them), in update order. */
  trainable: TensorShape[];
  /** Rows of the embedding after growing it for added tokens. */
  vocabSize: number;
  maxPositionEmbeddings: number;
}

export interface TensorValues extends TensorShape {
  data: Float32Array;
}

/** The state an exact resume needs: trainable values and the optimizer's moments. */
export interface TrainableState {
  weights: TensorValues[];
  optimizer: { step: number; m: Map<string, Float32Array>; v: Map<string, Float32Array> };
}

export interface ApplyStepOptions {
  learningRate: number;
  /** Global-norm clip (0 = off), as torch's clip_grad_norm_. */
  clipNorm: number;
  /** Trained tokens of the step: the accumulated sums are divided by it (a mean over tokens). */
  trainedTokens: number;
}

/** What applyStep did: the global gradient norm before clipping, and whether the update was applied. */
export interface AppliedStep {
  gradNorm: number;
  /**
   * False when the engine applied nothing: a non-finite gradient norm would only poison the weights and
   * moments, so the built-in engines then clear the gradient sums and leave the state and step count as they
   * were (the run can skip that step under train.skipNonFinite). Absent: the update was applied.
   */
  applied?: boolean;
}

export interface GenerateOptions {
  maxNewTokens?: number;
  /** 0 (default) = greedy. */
  temperature?: number;
  /** Nucleus sampling mass, (0, 1]; 1 = off. */
  topP?: number;
  seed?: number;
  /** Stop (and include the token) when one of these ids is produced: EOS, end-of-turn ids. */
  stopIds?: readonly number[];
  /** Stop when the decoded continuation contains one of these; needs `decode`. Trimmed from `text`. */
  stopStrings?: readonly string[];
  decode?: (ids: number[]) => string;
  /** Called with each new token id; return false to stop. */
  onToken?: (id: number) => boolean | undefined;
}

export interface GenerateResult {
  /** New token ids only (the prompt excluded), including a final stop id if one was produced. */
  ids: number[];
  /** Decoded new tokens (when `decode` was given), cut before a stop string. */
  text?: string;
  stopReason: "stop_id" | "stop_string" | "max_new_tokens" | "callback" | "context_full";
}

/** Where the engine's artefacts go (the method decides which: PEFT adapter and/or merged model). */
export interface SaveArtefactsOptions {
  outDir: string;
  save: Plan["output"]["save"];
  /** Folder with the base tokenizer files (copied, with the trained chat template and added tokens). */
  tokenizerDir: string | null;
  chatTemplate: string | null;
  /** The base to record (PEFT's base_model_name_or_path): a hub id or set name, or a folder (written relative). */
  baseModel: BaseModel;
}

export interface EngineMemory {
  /** Bytes the engine holds now (weights, moments, buffers), and its peak if it tracks one. */
  bytes: number;
  peakBytes?: number;
  /** Engine-specific detail (e.g. live tensors). */
  detail?: string;
  /** Bytes reserved on the device at run start (the cuda engine's arena), when the engine reserves. */
  reservedBytes?: number;
  /**
   * A high-water mark the engine cannot reset, kept instead of a peak: the wasm heap's size (it only
   * grows, over every run of the process). The run summary reads it; step metrics do not.
   */
  highWaterBytes?: number;
}

export interface Engine {
  /** The registered name (e.g. `tfjs`). */
  readonly name: string;
  /** One line on what runs: backend, threads, kernels. */
  describe(): string;
  /** Loads the base model, grows its vocabulary for the plan's added tokens and builds the plan's method. */
  load(spec: EngineLoadSpec): Promise<LoadedModel>;
  /** Forward and backward of one micro-batch (dropout seeded by `seed`); adds its gradients to the step's sums. */
  forwardBackward(batch: EngineMicroBatch, opts: { seed: number }): Promise<LossSum>;
  /** Averages the summed gradients over the step's tokens, clips, applies AdamW, clears the sums. */
  applyStep(opts: ApplyStepOptions): Promise<AppliedStep>;
  /** Loss of one micro-batch with dropout off; no gradients. */
  evalLoss(batch: EngineMicroBatch): Promise<LossSum>;
  /** Continues one prompt with a KV cache, through the method (greedy, or sampled when temperature > 0). */
  generate(promptIds: readonly number[], opts?: GenerateOptions): Promise<GenerateResult>;
  readState(): Promise<TrainableState>;
  writeState(state: TrainableState): Promise<void>;
  /** Writes the method's artefacts; returns the files written. */
  saveArtefacts(opts: SaveArtefactsOptions): Promise<string[]>;
  memory(): EngineMemory;
  dispose(): void;
}

/** What a recipe asks of the engine before it is chosen. */
export interface EngineAsk {
  /** The tfjs backend named (`train.engine: "tfjs/<backend>"`, train.backend or $SFTKIT_BACKEND), or "auto". */
  backend: string;
  /** A GPU plan is asked for ($SFTKIT_GPU_MEMORY simulates a GPU). */
  gpu: boolean;
  /** The model family's name. */
  family: string;
  /** The family converts checkpoint tensors at load (its own `readWeight`). */
  convertsWeights: boolean;
  /** What the model needs beyond the Llama decoder, in words (beyondLlama, decoderFeatures); empty: nothing. */
  modelNeeds: readonly string[];
  /** Training features beyond plain weights and LoRA that the plan uses, each with its recipe path. */
  features?: readonly EngineFeatureUse[];
  /** The recipe's method (an engine reads its pieces through the method registry). */
  method?: Method;
}

export type { EngineFeature, EngineFeatureUse };

export interface EngineAvailability {
  available: boolean;
  /** Why it is (un)available, in words: what is installed, what is missing. */
  reason: string;
}

/** How weights are stored, as the plan names it (parameterGroups[].dtype, memory.weights). */
export type StorageDtype = "float32" | "bfloat16" | "float16" | "nf4";

/** A step's shape and the method's memory facts, as plain data (the planner fills it in). */
export interface EngineMemoryInput {
  cfg: ModelConfig;
  /** Rows of the embedding after added tokens. */
  vocab: number;
  tokensPerMicroBatch: number;
  /** Padded length of the longest micro-batch row. */
  sequenceLength: number;
  /** Each layer is recomputed in backward (plan.recompute). */
  recompute: boolean;
  /** Virtual tokens attention sees in front of every row (prefix tuning). */
  prefixLength: number;
  /** LoRA: the adapted linears (names) and rank, and whether they are DoRA's; null without adapters. */
  adapters: { modules: readonly string[]; rank: number; dropout: boolean; dora?: boolean } | null;
  /** Whether the loss takes a gradient for the head (full table or new rows). */
  headTrains: boolean;
  /** Parameters of the 2-D base tensors the method trains whole (full or partial selections, LoRA's
   * modulesToSave tables); absent where the caller does not say. */
  trainedMatrixParameters?: number;
  /** Threads the kernels use. */
  threads: number;
}

/** Bytes beyond weights, gradients and moments, by what holds them. */
export interface EngineMemoryEstimate {
  activations: number;
  /** Loss buffers: logits of the chunk of rows (and their gradient) held at once. */
  logits: number;
  /** Conversion scratch (storage dtype -> f32 tiles, NF4 dequantization). */
  scratch: number;
  /** The process itself (runtime, libraries, BLAS buffers). */
  runtime: number;
  /** Allocator slack and garbage not yet collected. */
  workspace: number;
}

/** An engine's memory model: how it stores weights, what a step holds, and where it runs out. */
export interface EngineMemoryModel {
  /** Storage of a frozen base tensor (trainable tensors are float32): `dims` = its rank. */
  frozenStorage(checkpoint: "float32" | "bfloat16" | "float16", dims: number): StorageDtype;
  estimate(input: EngineMemoryInput): EngineMemoryEstimate;
  /** The memory the engine may fill. */
  device(): { backend: string; bytes: number; note: string };
  /**
   * The GPU the engine runs on (probed, simulated by $SFTKIT_GPU_MEMORY, or assumed), for engines that run
   * on one: the planner then splits the recipe's step into micro-batches that fit it (the plan's `gpu`
   * section) and the engine reserves the plan's bytes at run start.
   */
  gpu?(): { name: string; bytes: number; simulated: boolean };
}

/** What the planner tells an engine when it asks for its kernels (plan.kernels). */
export interface EngineKernelsInput {
  cfg: ModelConfig;
  /** The tfjs backend decided for the plan (what tfjs runs on; other engines run their own). */
  backend: string;
  /** Whether the native tier loads into tfjs's wasm backend. */
  native: boolean;
}

/** What the registry knows of an engine: a cheap availability check (no initialisation) and a factory. */
export interface EngineDefinition {
  name: string;
  /** One line for `sft doctor`. */
  description: string;
  availability(): EngineAvailability;
  /** false: `auto` never picks it (chosen only by name: $SFTKIT_ENGINE or the recipe). Default true. */
  auto?: boolean;
  /** Why it cannot run what a plan asks (e.g. a GPU backend), or null; `auto` then passes it by. */
  unsupported?(ask: EngineAsk): string | null;
  /**
   * What each op runs as under this engine (plan.kernels, `sft plan --verbose`): its own kernels only
   * (absent: the plan says the engine does not describe them).
   */
  kernels?(input: EngineKernelsInput): Plan["kernels"];
  /** Its memory model (absent: the planner's tfjs model, every tensor float32 in the wasm heap). */
  memory?: EngineMemoryModel;
  /** A fresh engine for this plan (its backend and thread decisions). */
  create(plan: Plan): Engine | Promise<Engine>;
}
