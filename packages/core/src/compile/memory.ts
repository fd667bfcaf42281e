// The memory model: bytes of weights, gradients, optimizer state and activations for one training step.

import type { EngineMemoryModel } from "../engines/engine.ts";
import { type Method, methodDefinition } from "../methods/registry.ts";
import { activationBytes, headTables } from "../model/activations.ts";
import { linearModules, type ModelConfig } from "../model/config.ts";
import { tensorInventory } from "./params.ts";
import type { ParameterGroup, Plan } from "./plan-schema.ts";

/** Rows of logits whose gradient the fused cross-entropy holds at once. */
export const LOSS_CHUNK_ROWS = 512;
/** wasm32 can address at most 4 GiB, whatever the machine has. */
export const WASM_MAX_BYTES = 4 * 1024 ** 3;

export interface MemoryInput {
  cfg: ModelConfig;
  vocab: number;
  groups: ParameterGroup[];
  method: Method;
  /** Tokens in one micro-batch, padding included. */
  tokensPerMicroBatch: number;
  /** Padded length of the longest micro-batch row (attention is quadratic in it). */
  sequenceLength: number;
  gradientCheckpointing: boolean;
  device: { backend: string; bytes: number; note: string };
  /** The native tier's fused kernels will run (they keep about half the activations). */
  native?: boolean;
  /** The chosen engine's own memory model (absent: tfjs's, below). */
  engine?: EngineMemoryModel;
  /** Threads the engine's kernels use (per-thread scratch). */
  threads?: number;
}

/**
 * f32 values kept for backward, per token, in one decoder layer: the model core's count
 * (`activationBytes`, checked against tf.profile in model/recompute.test.ts), as the method changes it.
 */
export function activationFloatsPerTokenPerLayer(
  cfg: ModelConfig,
  method: Method,
  sequenceLength: number,
): number {
  const prefixLen = methodDefinition(method).memory(method).prefixLength;
  const est = activationBytes(cfg, { batch: 1, seqLen: sequenceLength, prefixLen });
  return est.perLayer / 4 / sequenceLength + methodFloatsPerTokenPerLayer(cfg, method);
}

/**
 * Per token and layer, f32 values the method changes against full training: a frozen linear keeps
 * no input (kernels.ts `linear` without a weight gradient), a LoRA adapter keeps its input and x·A.
 */
function methodFloatsPerTokenPerLayer(cfg: ModelConfig, method: Method): number {
  const mem = methodDefinition(method).memory(method);
  if (!mem.frozenLinears) return 0;
  const linears = linearModules(cfg);
  const targets = mem.adapters?.targets ?? [];
  const adapted = new Set<string>(targets === "all-linear" ? linears.map((m) => m.name) : targets);
  let floats = 0;
  for (const m of linears) floats -= adapted.has(m.name) ? 0 : m.inFeatures;
  if (mem.adapters) floats += adapted.size * mem.adapters.rank;
  return floats + doraFloatsPerTokenPerLayer(cfg, method);
}

/** DoRA's settings when the method uses it (its LoRA piece), else null. */
function doraOf(method: Method) {
  const lora = methodDefinition(method).pieces(method).lora;
  return lora?.dora ? lora : null;
}

/**
 * DoRA on tfjs (model/adapters/dora.ts), per adapted linear: tfjs's broadcasting mul and add keep both operands,
 * so the base and LoRA outputs and both scaled terms stay ([T, out] each), plus the output with its bias before
 * the bias is taken off; with dropout, the undropped input and the mask ([T, in] each). Measured in
 * compile/memory-dora.test.ts.
 */
function doraFloatsPerTokenPerLayer(cfg: ModelConfig, method: Method): number {
  const dora = doraOf(method);
  if (!dora) return 0;
  const targets = adaptedModules(cfg, dora.targets);
  return linearModules(cfg)
    .filter((m) => targets.includes(m.name))
    .reduce((a, m) => a + (m.bias ? 5 : 4) * m.outFeatures + (dora.dropout > 0 ? 2 * m.inFeatures : 0), 0);
}

/**
 * DoRA's bytes beside the activations on tfjs: the column-norm buffers every adapted linear keeps ([out]: the
 * norm and the factors m/n, m/n − 1, s·m/n), and the transient W + s·A·B with A·B ([in, out] each) of the largest
 * one while its norm is computed.
 */
export function doraBufferBytes(cfg: ModelConfig, method: Method): number {
  const dora = doraOf(method);
  if (!dora) return 0;
  const targets = adaptedModules(cfg, dora.targets);
  const adapted = linearModules(cfg).filter((m) => targets.includes(m.name));
  const norms = adapted.reduce((a, m) => a + 4 * m.outFeatures, 0) * cfg.numLayers;
  const largest = Math.max(0, ...adapted.map((m) => m.inFeatures * m.outFeatures));
  return 4 * (norms + 2 * largest);
}

/**
 * Activation bytes at the step's peak for one micro-batch: saved activations plus the backward
 * pass's working set (about 2.2 layers' worth, measured; gradients are freed as they are used), from
 * `activationBytes`, less the inputs that frozen linears do not keep.
 */
export function activationPeakBytes(
  cfg: ModelConfig,
  method: Method,
  tokensPerMicroBatch: number,
  sequenceLength: number,
  gradientCheckpointing: boolean,
  headTrains = true,
  native = false,
): number {
  const prefixLen = methodDefinition(method).memory(method).prefixLength;
  const est = activationBytes(cfg, {
    batch: tokensPerMicroBatch / sequenceLength,
    seqLen: sequenceLength,
    prefixLen,
    recompute: gradientCheckpointing,
    native,
  });
  // The method's difference is in what the forward keeps; the held gradients stay as they are.
  const diff = methodFloatsPerTokenPerLayer(cfg, method) * 4 * tokensPerMicroBatch;
  // A frozen head takes no [d x vocab] gradient in the loss (adapter methods without new token rows).
  const headGrad = headTrains ? 0 : 4 * headTables(cfg) * cfg.hiddenSize * cfg.vocabSize;
  return Math.round(est.peak + diff * (gradientCheckpointing ? 1 : cfg.numLayers) - headGrad);
}

/** The adapted linears' names, when the method has LoRA adapters. */
function adaptedModules(cfg: ModelConfig, targets: "all-linear" | readonly string[]): string[] {
  return targets === "all-linear" ? linearModules(cfg).map((m) => m.name) : [...targets];
}

/** An engine's own model: weights by storage dtype (the groups), f32 gradients and moments, its step. */
function engineMemory(input: MemoryInput, engine: EngineMemoryModel): Plan["memory"] {
  const { cfg, groups, method } = input;
  const def = methodDefinition(method);
  const mem = def.memory(method);
  const weights: Record<string, number> = {};
  for (const g of groups) weights[g.dtype] = (weights[g.dtype] ?? 0) + g.bytes;
  const trainableParams = groups.filter((g) => g.role === "trainable").reduce((a, g) => a + g.parameters, 0);
  const gradients = trainableParams * 4;
  const optimizerState = trainableParams * 8;
  const lora = def.pieces(method).lora;
  const est = engine.estimate({
    cfg,
    vocab: input.vocab,
    tokensPerMicroBatch: input.tokensPerMicroBatch,
    sequenceLength: input.sequenceLength,
    recompute: input.gradientCheckpointing,
    prefixLength: mem.prefixLength,
    adapters: mem.adapters
      ? {
          modules: adaptedModules(cfg, mem.adapters.targets),
          rank: mem.adapters.rank,
          dropout: (lora?.dropout ?? 0) > 0,
          dora: lora?.dora === true,
        }
      : null,
    headTrains: mem.headTrains(input.vocab > cfg.vocabSize),
    trainedMatrixParameters: tensorInventory(cfg, input.vocab)
      .filter((t) => t.shape.length === 2 && def.trainsTensor(method, t, cfg))
      .reduce((n, t) => n + t.shape[0]! * t.shape[1]!, 0),
    threads: input.threads ?? 1,
  });
  const peak =
    Object.values(weights).reduce((a, b) => a + b, 0) +
    gradients +
    optimizerState +
    est.activations +
    est.logits +
    est.scratch +
    est.runtime +
    est.workspace;
  return {
    weights,
    gradients,
    optimizerState,
    activationsPerToken: Math.round(est.activations / input.tokensPerMicroBatch),
    activations: est.activations,
    logits: est.logits,
    scratch: est.scratch,
    runtime: est.runtime,
    ...(engine.gpu ? { arena: peak - est.runtime } : {}),
    workspace: est.workspace,
    peak,
    device: input.device,
    fits: peak <= input.device.bytes,
    gradientCheckpointing: input.gradientCheckpointing,
  };
}

export function estimateMemory(input: MemoryInput): Plan["memory"] {
  if (input.engine) return engineMemory(input, input.engine);
  const { cfg, groups, method } = input;
  const weights: Record<string, number> = {};
  for (const g of groups) weights[g.dtype] = (weights[g.dtype] ?? 0) + g.bytes;
  const trainableParams = groups.filter((g) => g.role === "trainable").reduce((a, g) => a + g.parameters, 0);
  const gradients = trainableParams * 4;
  const optimizerState = trainableParams * 8; // AdamW first and second moments, f32

  const activations = activationPeakBytes(
    cfg,
    method,
    input.tokensPerMicroBatch,
    input.sequenceLength,
    input.gradientCheckpointing,
    methodDefinition(method)
      .memory(method)
      .headTrains(input.vocab > cfg.vocabSize),
    input.native ?? false,
  );
  const activationsPerToken = Math.round(activations / input.tokensPerMicroBatch);
  // Fused masked cross-entropy: one chunk of logits and their gradient at a time.
  const logits = Math.min(LOSS_CHUNK_ROWS, input.tokensPerMicroBatch) * input.vocab * 4 * 2;
  // QLoRA dequantizes one layer's linear weights at a time, for forward and again for backward.
  const dequant =
    methodDefinition(method).quantizedBase(method) !== null
      ? (groups.filter((g) => g.role === "quantized").reduce((a, g) => a + g.parameters, 0) / cfg.numLayers) *
        4
      : 0;
  const base =
    Object.values(weights).reduce((a, b) => a + b, 0) +
    gradients +
    optimizerState +
    activations +
    logits +
    dequant +
    doraBufferBytes(cfg, method);
  const workspace = Math.round(base * 0.1);
  const peak = base + workspace;
  return {
    weights,
    gradients,
    optimizerState,
    activationsPerToken,
    activations,
    logits,
    workspace,
    peak,
    device: input.device,
    fits: peak <= input.device.bytes,
    gradientCheckpointing: input.gradientCheckpointing,
  };
}
