// What every model family describes, as plain data: the model's configuration, its tensors and its linears.
import { z } from "zod";

const positive = () => z.number().int().positive();

const RopeScalingSchema = z
  .discriminatedUnion("type", [
    z.object({ type: z.literal("linear"), factor: z.number() }),
    z.object({
      type: z.literal("llama3"),
      factor: z.number(),
      lowFreqFactor: z.number(),
      highFreqFactor: z.number(),
      originalMaxPositionEmbeddings: positive(),
    }),
    z.object({
      type: z.literal("longrope"),
      /** Per-frequency divisors up to `originalMaxPositionEmbeddings`, and beyond it. */
      shortFactor: z.array(z.number()),
      longFactor: z.array(z.number()),
      originalMaxPositionEmbeddings: positive(),
      /** cos/sin scale as config.json gives it; null: derived from the context extension. */
      attentionFactor: z.number().nullable(),
    }),
  ])
  .nullable()
  .describe("RoPE frequency scaling (null: none).");

/**
 * The parsed configuration every family produces (camelCase): what the decoder, the plan and the memory
 * model read. The descriptions are the recipe's and the plan's.
 */
export const ModelConfigSchema = z.object({
  architecture: z.string().describe("Model family (sets defaults such as Qwen2's q/k/v bias)."),
  vocabSize: positive().describe("Vocabulary size before added tokens."),
  hiddenSize: positive().describe("Model width d."),
  intermediateSize: positive().describe("SwiGLU feed-forward width."),
  numLayers: positive().describe("Number of decoder layers."),
  numHeads: positive().describe("Attention (query) heads."),
  numKvHeads: positive().describe("Key/value heads for grouped-query attention; defaults to numHeads."),
  headDim: positive().describe("Per-head width; defaults to hiddenSize / numHeads."),
  maxPositionEmbeddings: positive().describe("Longest position the model is built for."),
  rmsNormEps: z.number().positive().describe("RMSNorm epsilon."),
  ropeTheta: z.number().positive().describe("RoPE base frequency."),
  ropeScaling: RopeScalingSchema,
  partialRotaryFactor: z
    .number()
    .gt(0)
    .max(1)
    .optional()
    .describe("Share of each head's dimensions that RoPE rotates (absent: all)."),
  tieWordEmbeddings: z.boolean().describe("Share the embedding matrix with lm_head."),
  attentionBias: z.boolean().describe("Bias on q/k/v/o projections (default: true for qwen2, else false)."),
  mlpBias: z.boolean().describe("Bias on the MLP projections."),
  bosTokenId: z.number().int().nonnegative().nullable(),
  eosTokenId: z.union([z.number().int().nonnegative(), z.array(z.number().int().nonnegative())]).nullable(),
  torchDtype: z.enum(["float32", "float16", "bfloat16"]),
  // Optional features beyond the Llama decoder, each read from config.json by the families that have it;
  // absent means off, so a plain Llama config needs none of them.
  slidingWindow: positive()
    .nullable()
    .optional()
    .describe("Sliding-window attention: a query sees the last `slidingWindow` keys on its sliding layers."),
  layerTypes: z
    .array(z.enum(["full_attention", "sliding_attention"]))
    .optional()
    .describe(
      "Each layer's attention (transformers' `layer_types`); absent: every layer slides when a window is set.",
    ),
  qkNorm: z
    .boolean()
    .optional()
    .describe("Per-head RMSNorm on q and k before RoPE (Qwen3's q_norm, k_norm)."),
  hiddenAct: z
    .enum(["silu", "gelu_pytorch_tanh"])
    .optional()
    .describe("The MLP gate's activation: silu (SwiGLU, the default) or tanh-approximated GELU (GeGLU)."),
  normUnitOffset: z.boolean().optional().describe("RMSNorm scales by (1 + weight) (Gemma)."),
  embeddingScale: z
    .boolean()
    .optional()
    .describe("Embeddings times sqrt(hiddenSize), rounded to the model dtype (Gemma)."),
  sandwichNorms: z
    .boolean()
    .optional()
    .describe("Norms after attention and around the MLP: pre/post_feedforward_layernorm (Gemma 2 and 3)."),
  queryPreAttnScalar: z
    .number()
    .positive()
    .optional()
    .describe("Attention scores scaled by queryPreAttnScalar^-0.5 instead of headDim^-0.5 (Gemma)."),
  attnLogitSoftcap: z
    .number()
    .positive()
    .nullable()
    .optional()
    .describe("Attention scores capped as cap * tanh(score / cap) (Gemma 2)."),
  finalLogitSoftcap: z
    .number()
    .positive()
    .nullable()
    .optional()
    .describe("Logits capped as cap * tanh(logit / cap) (Gemma 2)."),
  ropeLocalTheta: z
    .number()
    .positive()
    .optional()
    .describe("RoPE base of the sliding layers, unscaled (Gemma 3's rope_local_base_freq)."),
});

export type ModelConfig = z.infer<typeof ModelConfigSchema>;
export type RopeScaling = ModelConfig["ropeScaling"];
/** A registered family's name (`model_type`): llama, qwen2, mistral, or one registered at run time. */
export type Architecture = string;

/** A config.json we cannot use; the message names the file and the field. */
export class ModelConfigError extends Error {
  override name = "ModelConfigError";
}

/**
 * The linears of a decoder layer, by role (the names recipes and LoRA targets use): Llama's seven, or with
 * q/k/v and gate/up fused as one linear each (phi3's `qkv_proj`, `gate_up_proj`), as the checkpoint stores them.
 */
export const linearRoles = [
  "q_proj",
  "k_proj",
  "v_proj",
  "o_proj",
  "gate_proj",
  "up_proj",
  "down_proj",
  "qkv_proj",
  "gate_up_proj",
] as const;
export type LinearRole = (typeof linearRoles)[number];

export interface LinearModule {
  name: LinearRole;
  /** Hugging Face path below `model.layers.N.`, e.g. "self_attn.q_proj". */
  path: string;
  inFeatures: number;
  outFeatures: number;
  bias: boolean;
}

/** The kinds of tensor a family's inventory lists. */
export type TensorKind = "embedding" | "lm_head" | "norm" | "linear" | "bias";

/** How the runtime holds each kind of tensor; a new kind must answer here. */
export const tensorKinds: Record<TensorKind, { transposed: boolean; init: "ones" | "normal" }> = {
  embedding: { transposed: false, init: "normal" },
  // Stored [d, V] and [in, out]: the forward pass multiplies without transposing.
  lm_head: { transposed: true, init: "normal" },
  linear: { transposed: true, init: "normal" },
  bias: { transposed: false, init: "normal" },
  norm: { transposed: false, init: "ones" },
};

export interface TensorFact {
  /** Hugging Face name, e.g. `model.layers.0.self_attn.q_proj.weight`. */
  name: string;
  /** Shape as the checkpoint stores it ([out, in] for linears). */
  shape: number[];
  layer: number | null;
  kind: TensorKind;
  /** The linear a `linear` weight or its `bias` belongs to. */
  role?: LinearRole;
}

/** A checkpoint being loaded, as a family's weight conversion sees it. */
export interface WeightSource {
  /** Tensor names the checkpoint holds. */
  names(): string[];
  /** A tensor as float32, checked against `shape`. */
  read(name: string, shape: number[]): Promise<Float32Array>;
}

export interface ModelFamily {
  /** `model_type` in config.json, and `architecture` in the plan. */
  name: string;
  description: string;
  /** transformers' classes: the causal LM (config.json `architectures`) and its decoder layer (FSDP wrapping). */
  hfClass: string;
  decoderLayerClass: string;
  /** config.json (one zod schema) -> ModelConfig; issues name the config key. */
  configSchema: z.ZodType<ModelConfig, unknown>;
  /** The config.json keys the family reads and writes; a base model's other keys are kept when it is written. */
  configKeys: readonly string[];
  /** ModelConfig -> the config.json transformers reads back to the same model. */
  toHfConfig(cfg: ModelConfig): Record<string, unknown>;
  /** The linears of one decoder layer, in checkpoint order. */
  linearModules(cfg: ModelConfig): LinearModule[];
  /** Every tensor, in checkpoint order, with `vocab` embedding rows. */
  tensors(cfg: ModelConfig, vocab: number): TensorFact[];
  /**
   * Conversion at load: the value of one of `tensors()` from what the checkpoint holds (e.g. a slice of a
   * fused `qkv_proj`). Absent: each tensor is read under its own name.
   */
  readWeight?(name: string, shape: number[], source: WeightSource, cfg: ModelConfig): Promise<Float32Array>;
}
