// The Llama-style decoder that llama, qwen2 and mistral share (RMSNorm, RoPE, GQA attention, SwiGLU): its
// config.json keys as one zod schema, its tensors and linears. A family composes it with its own facts.
import { z } from "zod";
import type {
  LinearModule,
  LinearRole,
  ModelConfig,
  ModelFamily,
  RopeScaling,
  TensorFact,
  WeightSource,
} from "./types.ts";

const got = (v: unknown) => JSON.stringify(v);

/** A finite number; null and absent read as missing (as transformers treats them). */
const num = () =>
  z.number({ error: (i) => (i.input == null ? "is missing" : `must be a number, got ${got(i.input)}`) });
const int = (min = 1) =>
  num()
    .int({ error: (i) => `must be an integer >= ${min}, got ${got(i.input)}` })
    .min(min, { error: (i) => `must be an integer >= ${min}, got ${got(i.input)}` });
const bool = () => z.boolean({ error: (i) => `must be true or false, got ${got(i.input)}` });
const tokenId = () =>
  z
    .number({ error: (i) => `must be a token id, got ${got(i.input)}` })
    .int({ error: (i) => `must be a token id, got ${got(i.input)}` })
    .nonnegative({ error: (i) => `must be a token id, got ${got(i.input)}` });

const RopeHf = z.looseObject(
  {
    rope_type: z.unknown().optional(),
    type: z.unknown().optional(),
    rope_theta: num().nullish(),
    factor: num().nullish(),
    low_freq_factor: num().nullish(),
    high_freq_factor: num().nullish(),
    original_max_position_embeddings: int().nullish(),
    short_factor: z.array(num()).nullish(),
    long_factor: z.array(num()).nullish(),
    attention_factor: num().nullish(),
  },
  { error: "must be an object or null" },
);

const layerType = z.enum(["full_attention", "sliding_attention"], {
  error: (i) => `must be "full_attention" or "sliding_attention", got ${got(i.input)}`,
});

/** How a family reads a sliding window from config.json (transformers' configuration_<family>.py). */
export type SlidingWindowKeys =
  /** No window keys (Llama). */
  | "none"
  /** `sliding_window` on every layer; absent means 4096, null means none (MistralConfig). */
  | "mistral"
  /** `sliding_window` on every layer; absent or null means none (Phi3Config). */
  | "phi3"
  /** `use_sliding_window` + `sliding_window` on layers >= `max_window_layers`, or as `layer_types` says (Qwen2Config, Qwen3Config). */
  | "qwen"
  /** `sliding_window` (default 4096) on the layers `layer_types` says, else every other one from layer 0 (Gemma2Config). */
  | "gemma2"
  /** As gemma2, else all but every `sliding_window_pattern`-th layer (default 6: five local, one global; Gemma3TextConfig). */
  | "gemma3";

/** The decoder's config.json keys: the bias flags, window keys and phi3's rotary keys the family reads. */
function hfShape(
  name: string,
  bias: { attention: boolean; mlp: boolean },
  window: SlidingWindowKeys,
  act: Activation,
  phiKeys: boolean,
) {
  return {
    model_type: z.literal(name),
    architectures: z.array(z.string()).nullish(),
    hidden_act: z
      .literal(act, { error: (i) => `"${String(i.input)}" is not supported (only ${act})` })
      .nullish(),
    vocab_size: int(),
    hidden_size: int(),
    intermediate_size: int(),
    num_hidden_layers: int(),
    num_attention_heads: int(),
    num_key_value_heads: int().nullish(),
    head_dim: int().nullish(),
    max_position_embeddings: int().nullish(),
    rms_norm_eps: num().nullish(),
    rope_theta: num().nullish(),
    rope_scaling: RopeHf.nullish(),
    // Newer transformers put theta and scaling together in `rope_parameters`.
    rope_parameters: RopeHf.nullish(),
    tie_word_embeddings: bool().nullish(),
    ...(bias.attention ? { attention_bias: bool().nullish() } : {}),
    ...(bias.mlp ? { mlp_bias: bool().nullish() } : {}),
    ...(phiKeys ? { partial_rotary_factor: num().nullish() } : {}),
    ...(window === "none" ? {} : { sliding_window: int().nullish() }),
    ...(window === "gemma2" || window === "gemma3"
      ? { layer_types: z.array(layerType, { error: "must be a list of layer types" }).nullish() }
      : {}),
    ...(window === "gemma3" ? { sliding_window_pattern: int().nullish() } : {}),
    ...(window === "qwen"
      ? {
          use_sliding_window: bool().nullish(),
          max_window_layers: int(0).nullish(),
          layer_types: z.array(layerType, { error: "must be a list of layer types" }).nullish(),
        }
      : {}),
    bos_token_id: tokenId().nullish(),
    eos_token_id: z
      .union([tokenId(), z.array(tokenId())], {
        error: (i) => `must be a token id or a list of ids, got ${got(i.input)}`,
      })
      .nullish(),
    dtype: z.unknown().optional(),
    torch_dtype: z.unknown().optional(),
    use_cache: z.unknown().optional(),
  };
}

export type Issue = { path: (string | number)[]; message: string };
type Activation = NonNullable<ModelConfig["hiddenAct"]>;

/**
 * What a family adds to the decoder beyond the keys above (Gemma's norms, caps and scales): its own
 * config.json keys, what they turn on in the config, and how they are written back.
 */
export interface DecoderExtension {
  keys: z.core.$ZodShape;
  /** The config's features from `j` (the whole config.json, checked by `keys`); issues name the key. */
  parse(j: Record<string, unknown>, cfg: ModelConfig, issues: Issue[]): Partial<ModelConfig>;
  toHf(cfg: ModelConfig): Record<string, unknown>;
}

type RopeKey = "factor" | "low_freq_factor" | "high_freq_factor" | "original_max_position_embeddings";

/** What a rope type reads besides its own keys. */
interface RopeContext {
  need: (key: RopeKey) => number;
  /** A list of numbers the scaling must hold (a missing one is an issue). */
  list: (key: "short_factor" | "long_factor") => number[];
  scaling: RopeJson;
  /** The pretrained context: config.json's top-level key (phi3), else the family's default, else null. */
  originalMax: number | null;
}

/** config.json's `rope_type`: "default" (none) or one of our scalings, which use transformers' names. */
type RopeType = "default" | NonNullable<RopeScaling>["type"];
/** Each rope type -> our scaling, reading the keys it needs (a missing one is an issue). */
const ropeTypes: Record<RopeType, (c: RopeContext) => RopeScaling> = {
  default: () => null,
  linear: ({ need }) => ({ type: "linear", factor: need("factor") }),
  llama3: ({ need }) => ({
    type: "llama3",
    factor: need("factor"),
    lowFreqFactor: need("low_freq_factor"),
    highFreqFactor: need("high_freq_factor"),
    originalMaxPositionEmbeddings: need("original_max_position_embeddings"),
  }),
  // transformers' _compute_longrope_parameters (modeling_rope_utils.py).
  longrope: ({ need, list, scaling, originalMax }) => ({
    type: "longrope",
    shortFactor: list("short_factor"),
    longFactor: list("long_factor"),
    originalMaxPositionEmbeddings:
      originalMax ?? scaling.original_max_position_embeddings ?? need("original_max_position_embeddings"),
    attentionFactor: scaling.attention_factor ?? null,
  }),
};

function parseRope(
  j: { rope_theta?: number | null; rope_scaling?: RopeJson | null; rope_parameters?: RopeJson | null },
  originalMax: number | null,
  issues: Issue[],
): { ropeTheta: number; ropeScaling: RopeScaling } {
  const params = j.rope_parameters ?? null;
  const ropeTheta = params?.rope_theta ?? j.rope_theta ?? 10000;
  if (ropeTheta <= 0) issues.push({ path: ["rope_theta"], message: `must be positive, got ${ropeTheta}` });
  const [scaling, at] = j.rope_scaling ? [j.rope_scaling, "rope_scaling"] : [params, "rope_parameters"];
  if (!scaling) return { ropeTheta, ropeScaling: null };
  const need = (key: RopeKey) => {
    const v = scaling[key];
    if (v == null) issues.push({ path: [at, key], message: "is missing" });
    return v ?? 0;
  };
  const list = (key: "short_factor" | "long_factor") => {
    const v = scaling[key];
    if (v == null) issues.push({ path: [at, key], message: "is missing" });
    return v ?? [];
  };
  const type = scaling.rope_type ?? scaling.type ?? "default";
  const toScaling =
    typeof type === "string" && Object.hasOwn(ropeTypes, type) ? ropeTypes[type as RopeType] : undefined;
  if (toScaling) return { ropeTheta, ropeScaling: toScaling({ need, list, scaling, originalMax }) };
  issues.push({
    path: [at, "rope_type"],
    message: `"${String(type)}" is not supported (supported: ${Object.keys(ropeTypes).join(", ")})`,
  });
  return { ropeTheta, ropeScaling: null };
}
type RopeJson = z.infer<typeof RopeHf>;

function parseDtype(
  j: { dtype?: unknown; torch_dtype?: unknown },
  issues: Issue[],
): ModelConfig["torchDtype"] {
  // transformers keeps `dtype` when a config has both (PreTrainedConfig.__post_init__).
  const key = j.dtype != null ? "dtype" : "torch_dtype";
  const v = j[key];
  if (v == null) return "float32";
  if (v === "float32" || v === "float16" || v === "bfloat16") return v;
  issues.push({ path: [key], message: `must be float32, float16 or bfloat16, got ${got(v)}` });
  return "float32";
}

export interface DecoderFamilyOptions<Name extends string = string> {
  name: Name;
  description: string;
  hfClass: string;
  decoderLayerClass: string;
  /** q/k/v biases: read from `attention_bias` (llama), always (qwen2) or never (mistral). */
  qkvBias: "config" | "always" | "never";
  /** Whether o_proj has a bias when q/k/v do (Qwen2's never does). */
  oProjBias: boolean;
  /** MLP biases: read from `mlp_bias` (llama) or never. */
  mlpBias: "config" | "never";
  /** Which sliding-window keys config.json has (default: none). */
  slidingWindow?: SlidingWindowKeys;
  /** Per-head RMSNorm on q and k before RoPE (`self_attn.q_norm`, `self_attn.k_norm`: Qwen3). */
  qkNorm?: boolean;
  /** The MLP gate's activation, the only `hidden_act` the family reads (default silu). */
  hiddenAct?: Activation;
  /** Norms after attention and around the MLP (`pre_feedforward_layernorm`, `post_feedforward_layernorm`). */
  sandwichNorms?: boolean;
  extension?: DecoderExtension;
  /** Hugging Face paths of the linears below `model.layers.N.` where they differ from Llama's. */
  paths?: Partial<Record<LinearRole, string>>;
  /** q/k/v and gate/up stored as one linear each (phi3's `qkv_proj` and `gate_up_proj`), held as stored. */
  fusedLinears?: boolean;
  /**
   * phi3's RoPE keys: `partial_rotary_factor`, and a top-level `original_max_position_embeddings` that
   * longrope reads (this default when absent, as Phi3Config has).
   */
  phiRope?: { originalMaxPositionEmbeddings: number };
  readWeight?: ModelFamily["readWeight"];
}

const llamaPaths: Record<LinearRole, string> = {
  q_proj: "self_attn.q_proj",
  k_proj: "self_attn.k_proj",
  v_proj: "self_attn.v_proj",
  o_proj: "self_attn.o_proj",
  gate_proj: "mlp.gate_proj",
  up_proj: "mlp.up_proj",
  down_proj: "mlp.down_proj",
  qkv_proj: "self_attn.qkv_proj",
  gate_up_proj: "mlp.gate_up_proj",
};

/** A Llama-style decoder family; the options say how it differs from Llama. */
export function decoderFamily<Name extends string>(
  o: DecoderFamilyOptions<Name>,
): ModelFamily & { name: Name } {
  const bias = { attention: o.qkvBias === "config", mlp: o.mlpBias === "config" };
  const windowKeys = o.slidingWindow ?? "none";
  const act = o.hiddenAct ?? "silu";
  const shape = {
    ...hfShape(o.name, bias, windowKeys, act, o.phiRope !== undefined),
    ...o.extension?.keys,
  };
  const configSchema = z.looseObject(shape).transform((j, ctx): ModelConfig => {
    const issues: Issue[] = [];
    const numHeads = j.num_attention_heads;
    const numKvHeads = j.num_key_value_heads ?? numHeads;
    if (numHeads % numKvHeads !== 0)
      issues.push({
        path: ["num_key_value_heads"],
        message: `(${numKvHeads}) must divide num_attention_heads (${numHeads})`,
      });
    if (j.head_dim == null && j.hidden_size % numHeads !== 0)
      issues.push({
        path: ["hidden_size"],
        message: `(${j.hidden_size}) must be a multiple of num_attention_heads (${numHeads})`,
      });
    const headDim = j.head_dim ?? j.hidden_size / numHeads;
    if (headDim % 2 !== 0)
      issues.push({ path: ["head_dim"], message: `must be even for RoPE, got ${headDim}` });
    const phi = j as { partial_rotary_factor?: number | null; original_max_position_embeddings?: unknown };
    const partialRotaryFactor = phi.partial_rotary_factor ?? 1;
    const rotaryDim = Math.floor(headDim * partialRotaryFactor);
    if (partialRotaryFactor <= 0 || partialRotaryFactor > 1 || rotaryDim % 2 !== 0 || rotaryDim === 0)
      issues.push({
        path: ["partial_rotary_factor"],
        message: `must be in (0, 1] and rotate an even number of each head's ${headDim} dimensions, got ${partialRotaryFactor}`,
      });
    // Kept out of the schema's keys: a base model's value is written back as it was.
    const topOriginal = phi.original_max_position_embeddings;
    if (topOriginal != null && !(Number.isInteger(topOriginal) && (topOriginal as number) > 0))
      issues.push({
        path: ["original_max_position_embeddings"],
        message: `must be an integer >= 1, got ${got(topOriginal)}`,
      });
    const originalMax = o.phiRope
      ? ((topOriginal as number | null | undefined) ?? o.phiRope.originalMaxPositionEmbeddings)
      : null;
    const { ropeTheta, ropeScaling } = parseRope(j, originalMax, issues);
    if (ropeScaling?.type === "longrope") {
      const at = j.rope_scaling ? "rope_scaling" : "rope_parameters";
      for (const [key, v] of [
        ["short_factor", ropeScaling.shortFactor],
        ["long_factor", ropeScaling.longFactor],
      ] as const)
        if (v.length > 0 && v.length !== rotaryDim / 2)
          issues.push({
            path: [at, key],
            message: `must list ${rotaryDim / 2} factors (half the rotary dimensions), got ${v.length}`,
          });
    }
    const torchDtype = parseDtype(j, issues);
    const flags = j as { attention_bias?: boolean | null; mlp_bias?: boolean | null };
    const window = parseWindow(j as WindowJson, windowKeys, j.num_hidden_layers, issues);
    const cfg: ModelConfig = {
      architecture: o.name,
      vocabSize: j.vocab_size,
      hiddenSize: j.hidden_size,
      intermediateSize: j.intermediate_size,
      numLayers: j.num_hidden_layers,
      numHeads,
      numKvHeads,
      headDim,
      maxPositionEmbeddings: j.max_position_embeddings ?? 2048,
      rmsNormEps: j.rms_norm_eps ?? 1e-6,
      ropeTheta,
      ropeScaling,
      ...(o.phiRope ? { partialRotaryFactor } : {}),
      tieWordEmbeddings: j.tie_word_embeddings ?? false,
      attentionBias: o.qkvBias === "always" || (o.qkvBias === "config" && (flags.attention_bias ?? false)),
      mlpBias: o.mlpBias === "config" && (flags.mlp_bias ?? false),
      bosTokenId: j.bos_token_id ?? null,
      eosTokenId: j.eos_token_id ?? null,
      torchDtype,
      ...window,
      ...(o.qkNorm ? { qkNorm: true } : {}),
      ...(act !== "silu" ? { hiddenAct: act } : {}),
      ...(o.sandwichNorms ? { sandwichNorms: true } : {}),
    };
    const extended = { ...cfg, ...o.extension?.parse(j, cfg, issues) };
    for (const i of issues) ctx.addIssue({ code: "custom", input: j, ...i });
    return extended;
  });

  const paths = { ...llamaPaths, ...o.paths };
  const linearModules = (cfg: ModelConfig): LinearModule[] => {
    const q = cfg.numHeads * cfg.headDim;
    const kv = cfg.numKvHeads * cfg.headDim;
    const d = cfg.hiddenSize;
    const ffn = cfg.intermediateSize;
    const ab = cfg.attentionBias;
    const mb = cfg.mlpBias;
    const m = (name: LinearRole, inFeatures: number, outFeatures: number, bias: boolean): LinearModule => ({
      name,
      path: paths[name],
      inFeatures,
      outFeatures,
      bias,
    });
    // Fused as transformers' Phi3 stores them: rows q, k, v and gate, up.
    if (o.fusedLinears)
      return [
        m("o_proj", q, d, ab && o.oProjBias),
        m("qkv_proj", d, q + 2 * kv, ab),
        m("gate_up_proj", d, 2 * ffn, mb),
        m("down_proj", ffn, d, mb),
      ];
    return [
      m("q_proj", d, q, ab),
      m("k_proj", d, kv, ab),
      m("v_proj", d, kv, ab),
      m("o_proj", q, d, ab && o.oProjBias),
      m("gate_proj", d, ffn, mb),
      m("up_proj", d, ffn, mb),
      m("down_proj", ffn, d, mb),
    ];
  };

  const tensors = (cfg: ModelConfig, vocab: number): TensorFact[] => {
    const d = cfg.hiddenSize;
    const out: TensorFact[] = [
      { name: "model.embed_tokens.weight", shape: [vocab, d], layer: null, kind: "embedding" },
    ];
    const mods = linearModules(cfg);
    for (let i = 0; i < cfg.numLayers; i++) {
      const p = `model.layers.${i}`;
      out.push({ name: `${p}.input_layernorm.weight`, shape: [d], layer: i, kind: "norm" });
      for (const m of mods) {
        const role = m.name;
        out.push({
          name: `${p}.${m.path}.weight`,
          shape: [m.outFeatures, m.inFeatures],
          layer: i,
          kind: "linear",
          role,
        });
        if (m.bias)
          out.push({ name: `${p}.${m.path}.bias`, shape: [m.outFeatures], layer: i, kind: "bias", role });
      }
      if (o.qkNorm)
        for (const n of ["q_norm", "k_norm"])
          out.push({ name: `${p}.self_attn.${n}.weight`, shape: [cfg.headDim], layer: i, kind: "norm" });
      out.push({ name: `${p}.post_attention_layernorm.weight`, shape: [d], layer: i, kind: "norm" });
      if (o.sandwichNorms)
        for (const n of ["pre_feedforward_layernorm", "post_feedforward_layernorm"])
          out.push({ name: `${p}.${n}.weight`, shape: [d], layer: i, kind: "norm" });
    }
    out.push({ name: "model.norm.weight", shape: [d], layer: null, kind: "norm" });
    if (!cfg.tieWordEmbeddings)
      out.push({ name: "lm_head.weight", shape: [vocab, d], layer: null, kind: "lm_head" });
    return out;
  };

  const toHfConfig = (cfg: ModelConfig): Record<string, unknown> => {
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
    } else if (cfg.ropeScaling?.type === "longrope") {
      // Phi3Config before transformers 4.48 takes exactly these three keys; the context length is top-level.
      ropeScaling = {
        type: "longrope",
        short_factor: cfg.ropeScaling.shortFactor,
        long_factor: cfg.ropeScaling.longFactor,
        ...(cfg.ropeScaling.attentionFactor != null
          ? { attention_factor: cfg.ropeScaling.attentionFactor }
          : {}),
      };
    }
    const longrope = cfg.ropeScaling?.type === "longrope" ? cfg.ropeScaling : null;
    return {
      architectures: [o.hfClass],
      model_type: o.name,
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
      hidden_act: act,
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
      ...(bias.attention ? { attention_bias: cfg.attentionBias } : {}),
      ...(bias.mlp ? { mlp_bias: cfg.mlpBias } : {}),
      ...(o.phiRope ? { partial_rotary_factor: cfg.partialRotaryFactor ?? 1 } : {}),
      ...(longrope ? { original_max_position_embeddings: longrope.originalMaxPositionEmbeddings } : {}),
      ...windowHfKeys(cfg, windowKeys),
      ...o.extension?.toHf(cfg),
    };
  };

  return {
    name: o.name,
    description: o.description,
    hfClass: o.hfClass,
    decoderLayerClass: o.decoderLayerClass,
    configSchema,
    // `max_window_layers` stays as the base had it: we write `layer_types`, which transformers prefers.
    configKeys: Object.keys(shape).filter((k) => k !== "max_window_layers" && k !== "sliding_window_pattern"),
    toHfConfig,
    linearModules,
    tensors,
    ...(o.readWeight ? { readWeight: o.readWeight } : {}),
  };
}

type WindowJson = {
  sliding_window?: number | null;
  sliding_window_pattern?: number | null;
  use_sliding_window?: boolean | null;
  max_window_layers?: number | null;
  layer_types?: ("full_attention" | "sliding_attention")[] | null;
};

/** The window and each layer's type, as transformers' config classes derive them (nothing when off). */
function parseWindow(
  j: WindowJson,
  keys: SlidingWindowKeys,
  numLayers: number,
  issues: Issue[],
): Pick<ModelConfig, "slidingWindow" | "layerTypes"> {
  if (keys === "none") return {};
  if (keys === "mistral") {
    // MistralConfig defaults `sliding_window` to 4096; an explicit null turns it off.
    const w = j.sliding_window === undefined ? 4096 : j.sliding_window;
    return w == null ? {} : { slidingWindow: w };
  }
  if (keys === "phi3") return j.sliding_window == null ? {} : { slidingWindow: j.sliding_window };
  // Qwen2Config/Qwen3Config: `sliding_window = sliding_window if use_sliding_window else None`.
  if (keys === "qwen" && !j.use_sliding_window) return {};
  const w = j.sliding_window === undefined ? 4096 : j.sliding_window;
  if (w == null) return {};
  if (j.layer_types != null) {
    if (j.layer_types.length !== numLayers)
      issues.push({
        path: ["layer_types"],
        message: `must list num_hidden_layers (${numLayers}) layers, got ${j.layer_types.length}`,
      });
    return { slidingWindow: w, layerTypes: j.layer_types };
  }
  const pattern = keys === "gemma2" ? 2 : (j.sliding_window_pattern ?? 6);
  const from = j.max_window_layers ?? 28;
  const slides = (i: number) => (keys === "qwen" ? i >= from : (i + 1) % pattern !== 0);
  const layerTypes = Array.from({ length: numLayers }, (_, i) =>
    slides(i) ? ("sliding_attention" as const) : ("full_attention" as const),
  );
  return { slidingWindow: w, layerTypes };
}

/** The window keys transformers reads back to the same layers. */
function windowHfKeys(cfg: ModelConfig, keys: SlidingWindowKeys): Record<string, unknown> {
  if (keys === "none") return {};
  const w = cfg.slidingWindow ?? null;
  if (keys === "mistral" || keys === "phi3") return { sliding_window: w };
  const qwen = keys === "qwen";
  if (w == null) return qwen ? { use_sliding_window: false, sliding_window: null } : { sliding_window: null };
  const layerTypes =
    cfg.layerTypes ?? Array.from({ length: cfg.numLayers }, () => "sliding_attention" as const);
  return { ...(qwen ? { use_sliding_window: true } : {}), sliding_window: w, layer_types: layerTypes };
}

/** Reads each tensor under its own name: what a family without a conversion does. */
export function readWeightAsIs(name: string, shape: number[], source: WeightSource): Promise<Float32Array> {
  return source.read(name, shape);
}
