// Hugging Face config.json <-> ModelConfig for the Llama family (llama, qwen2, mistral).
import { readFile } from "node:fs/promises";
import { join } from "node:path";

export type Architecture = "llama" | "qwen2" | "mistral";

export type RopeScaling =
  | null
  | { type: "linear"; factor: number }
  | {
      type: "llama3";
      factor: number;
      lowFreqFactor: number;
      highFreqFactor: number;
      originalMaxPositionEmbeddings: number;
    };

export interface ModelConfig {
  architecture: Architecture;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  maxPositionEmbeddings: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling;
  tieWordEmbeddings: boolean;
  /** q/k/v biases (and o_proj for llama/mistral; Qwen2 never has an o_proj bias). */
  attentionBias: boolean;
  mlpBias: boolean;
  bosTokenId: number | null;
  eosTokenId: number | number[] | null;
  torchDtype: "float32" | "float16" | "bfloat16";
}

/** A config.json we cannot use; the message names the file and the field. */
export class ModelConfigError extends Error {
  override name = "ModelConfigError";
}

const ARCHITECTURES: Record<string, Architecture> = { llama: "llama", qwen2: "qwen2", mistral: "mistral" };

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

class Fields {
  constructor(
    readonly obj: Json,
    readonly where: string,
    readonly prefix = "",
  ) {}

  fail(field: string, msg: string): never {
    throw new ModelConfigError(`${this.where}: field "${this.prefix}${field}" ${msg}`);
  }

  has(field: string): boolean {
    return this.obj[field] !== undefined && this.obj[field] !== null;
  }

  num(field: string, fallback?: number): number {
    const v = this.obj[field];
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      this.fail(field, "is missing");
    }
    if (typeof v !== "number" || !Number.isFinite(v))
      this.fail(field, `must be a number, got ${JSON.stringify(v)}`);
    return v;
  }

  int(field: string, fallback?: number, min = 1): number {
    const v = this.num(field, fallback);
    if (!Number.isInteger(v) || v < min) this.fail(field, `must be an integer >= ${min}, got ${v}`);
    return v;
  }

  bool(field: string, fallback: boolean): boolean {
    const v = this.obj[field];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== "boolean") this.fail(field, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  optInt(field: string): number | null {
    const v = this.obj[field];
    if (v === undefined || v === null) return null;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0)
      this.fail(field, `must be a token id, got ${JSON.stringify(v)}`);
    return v;
  }
}

function parseRope(f: Fields): { ropeTheta: number; ropeScaling: RopeScaling } {
  // Newer transformers put theta and scaling together in `rope_parameters`.
  let params: Fields | null = null;
  if (isObject(f.obj.rope_parameters))
    params = new Fields(f.obj.rope_parameters, f.where, "rope_parameters.");
  let ropeTheta = 10000;
  if (params?.has("rope_theta")) ropeTheta = params.num("rope_theta");
  else if (f.has("rope_theta")) ropeTheta = f.num("rope_theta");
  if (ropeTheta <= 0) f.fail("rope_theta", `must be positive, got ${ropeTheta}`);

  let scaling: Fields | null = null;
  if (isObject(f.obj.rope_scaling)) scaling = new Fields(f.obj.rope_scaling, f.where, "rope_scaling.");
  else if (f.has("rope_scaling")) f.fail("rope_scaling", "must be an object or null");
  else if (params) scaling = params;
  if (!scaling) return { ropeTheta, ropeScaling: null };
  const kind = scaling.obj.rope_type ?? scaling.obj.type ?? "default";
  switch (kind) {
    case "default":
      return { ropeTheta, ropeScaling: null };
    case "linear":
      return { ropeTheta, ropeScaling: { type: "linear", factor: scaling.num("factor") } };
    case "llama3":
      return {
        ropeTheta,
        ropeScaling: {
          type: "llama3",
          factor: scaling.num("factor"),
          lowFreqFactor: scaling.num("low_freq_factor"),
          highFreqFactor: scaling.num("high_freq_factor"),
          originalMaxPositionEmbeddings: scaling.int("original_max_position_embeddings"),
        },
      };
  }
  return scaling.fail("rope_type", `"${String(kind)}" is not supported (supported: default, linear, llama3)`);
}

function parseEos(f: Fields): number | number[] | null {
  const v = f.obj.eos_token_id;
  if (v === undefined || v === null) return null;
  if (Array.isArray(v)) {
    if (!v.every((x) => typeof x === "number" && Number.isInteger(x) && x >= 0))
      f.fail("eos_token_id", `must be a token id or a list of ids, got ${JSON.stringify(v)}`);
    return v as number[];
  }
  return f.optInt("eos_token_id");
}

function parseDtype(f: Fields): ModelConfig["torchDtype"] {
  // transformers keeps `dtype` when a config has both (PreTrainedConfig.__post_init__).
  const key = f.has("dtype") ? "dtype" : "torch_dtype";
  const v = f.obj[key];
  if (v === undefined || v === null) return "float32";
  if (v === "float32" || v === "float16" || v === "bfloat16") return v;
  return f.fail(key, `must be float32, float16 or bfloat16, got ${JSON.stringify(v)}`);
}

/** Parses a config.json object; `where` (a path) is used in error messages. */
export function parseHfConfig(json: unknown, where: string): ModelConfig {
  if (!isObject(json)) throw new ModelConfigError(`${where}: expected a JSON object`);
  const f = new Fields(json, where);
  const modelType = json.model_type;
  const architecture = typeof modelType === "string" ? ARCHITECTURES[modelType] : undefined;
  if (!architecture) {
    return f.fail(
      "model_type",
      `${JSON.stringify(modelType)} is not supported (supported: ${Object.keys(ARCHITECTURES).join(", ")})`,
    );
  }
  const act = json.hidden_act ?? "silu";
  if (act !== "silu") f.fail("hidden_act", `"${String(act)}" is not supported (only silu)`);
  const hiddenSize = f.int("hidden_size");
  const numHeads = f.int("num_attention_heads");
  const numKvHeads = f.int("num_key_value_heads", numHeads);
  if (numHeads % numKvHeads !== 0)
    f.fail("num_key_value_heads", `(${numKvHeads}) must divide num_attention_heads (${numHeads})`);
  if (!f.has("head_dim") && hiddenSize % numHeads !== 0)
    f.fail("hidden_size", `(${hiddenSize}) must be a multiple of num_attention_heads (${numHeads})`);
  const headDim = f.int("head_dim", hiddenSize / numHeads);
  if (headDim % 2 !== 0) f.fail("head_dim", `must be even for RoPE, got ${headDim}`);
  const { ropeTheta, ropeScaling } = parseRope(f);
  return {
    architecture,
    vocabSize: f.int("vocab_size"),
    hiddenSize,
    intermediateSize: f.int("intermediate_size"),
    numLayers: f.int("num_hidden_layers"),
    numHeads,
    numKvHeads,
    headDim,
    maxPositionEmbeddings: f.int("max_position_embeddings", 2048),
    rmsNormEps: f.num("rms_norm_eps", 1e-6),
    ropeTheta,
    ropeScaling,
    tieWordEmbeddings: f.bool("tie_word_embeddings", false),
    // Qwen2 always has q/k/v biases and no attention_bias field.
    attentionBias:
      architecture === "qwen2" ? true : architecture === "llama" ? f.bool("attention_bias", false) : false,
    mlpBias: architecture === "llama" ? f.bool("mlp_bias", false) : false,
    bosTokenId: f.optInt("bos_token_id"),
    eosTokenId: parseEos(f),
    torchDtype: parseDtype(f),
  };
}

/** Reads and parses `<dir>/config.json`. */
export async function readHfConfig(dir: string): Promise<ModelConfig> {
  const file = join(dir, "config.json");
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    throw new ModelConfigError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ModelConfigError(`${file}: invalid JSON (${(e as Error).message})`);
  }
  return parseHfConfig(json, file);
}

const HF_CLASS: Record<Architecture, string> = {
  llama: "LlamaForCausalLM",
  qwen2: "Qwen2ForCausalLM",
  mistral: "MistralForCausalLM",
};

/** The config.json we write: what transformers reads back to the same model. */
export function toHfConfig(cfg: ModelConfig): Record<string, unknown> {
  let ropeScaling: Record<string, unknown> | null = null;
  if (cfg.ropeScaling?.type === "linear")
    ropeScaling = { rope_type: "linear", factor: cfg.ropeScaling.factor };
  else if (cfg.ropeScaling?.type === "llama3") {
    ropeScaling = {
      rope_type: "llama3",
      factor: cfg.ropeScaling.factor,
      low_freq_factor: cfg.ropeScaling.lowFreqFactor,
      high_freq_factor: cfg.ropeScaling.highFreqFactor,
      original_max_position_embeddings: cfg.ropeScaling.originalMaxPositionEmbeddings,
    };
  }
  const out: Record<string, unknown> = {
    architectures: [HF_CLASS[cfg.architecture]],
    model_type: cfg.architecture,
    vocab_size: cfg.vocabSize,
    hidden_size: cfg.hiddenSize,
    intermediate_size: cfg.intermediateSize,
    num_hidden_layers: cfg.numLayers,
    num_attention_heads: cfg.numHeads,
    num_key_value_heads: cfg.numKvHeads,
    head_dim: cfg.headDim,
    max_position_embeddings: cfg.maxPositionEmbeddings,
    rms_norm_eps: cfg.rmsNormEps,
    rope_theta: cfg.ropeTheta,
    rope_scaling: ropeScaling,
    hidden_act: "silu",
    tie_word_embeddings: cfg.tieWordEmbeddings,
    bos_token_id: cfg.bosTokenId,
    eos_token_id: cfg.eosTokenId,
    // `dtype` is the key transformers writes since 4.56 (huggingface/transformers#39782); it reads both and
    // keeps `dtype` when both are present (configuration_utils.py, PreTrainedConfig.__post_init__ at
    // 008e574391258935f3ecc3035c882e73bbcac419). `torch_dtype` stays, equal, for older transformers and
    // the servers pinned to them (vLLM, TGI), which read only that key.
    dtype: cfg.torchDtype,
    torch_dtype: cfg.torchDtype,
    use_cache: true,
  };
  if (cfg.architecture === "llama") {
    out.attention_bias = cfg.attentionBias;
    out.mlp_bias = cfg.mlpBias;
  }
  return out;
}

export interface LinearModule {
  name: "q_proj" | "k_proj" | "v_proj" | "o_proj" | "gate_proj" | "up_proj" | "down_proj";
  /** Path below `model.layers.N.`, e.g. "self_attn.q_proj". */
  path: string;
  inFeatures: number;
  outFeatures: number;
  bias: boolean;
}

/** The linear layers of one decoder layer, in checkpoint order. */
export function linearModules(cfg: ModelConfig): LinearModule[] {
  const q = cfg.numHeads * cfg.headDim;
  const kv = cfg.numKvHeads * cfg.headDim;
  const d = cfg.hiddenSize;
  const ffn = cfg.intermediateSize;
  const ab = cfg.attentionBias;
  const oBias = ab && cfg.architecture !== "qwen2";
  return [
    { name: "q_proj", path: "self_attn.q_proj", inFeatures: d, outFeatures: q, bias: ab },
    { name: "k_proj", path: "self_attn.k_proj", inFeatures: d, outFeatures: kv, bias: ab },
    { name: "v_proj", path: "self_attn.v_proj", inFeatures: d, outFeatures: kv, bias: ab },
    { name: "o_proj", path: "self_attn.o_proj", inFeatures: q, outFeatures: d, bias: oBias },
    { name: "gate_proj", path: "mlp.gate_proj", inFeatures: d, outFeatures: ffn, bias: cfg.mlpBias },
    { name: "up_proj", path: "mlp.up_proj", inFeatures: d, outFeatures: ffn, bias: cfg.mlpBias },
    { name: "down_proj", path: "mlp.down_proj", inFeatures: ffn, outFeatures: d, bias: cfg.mlpBias },
  ];
}

/**
 * Parameter counts. `perLayer` includes the layer's two RMSNorms; `norms` is the final norm;
 * `lmHead` is 0 when tied to the embedding.
 */
export function countParameters(cfg: ModelConfig): {
  total: number;
  embedding: number;
  lmHead: number;
  perLayer: number;
  norms: number;
} {
  const embedding = cfg.vocabSize * cfg.hiddenSize;
  const lmHead = cfg.tieWordEmbeddings ? 0 : embedding;
  let perLayer = 2 * cfg.hiddenSize;
  for (const m of linearModules(cfg)) perLayer += m.inFeatures * m.outFeatures + (m.bias ? m.outFeatures : 0);
  const norms = cfg.hiddenSize;
  return { total: embedding + lmHead + cfg.numLayers * perLayer + norms, embedding, lmHead, perLayer, norms };
}
