// PEFT adapter folders: adapter_config.json + adapter_model.safetensors, named and shaped as
// huggingface/peft saves them, so PeftModel.from_pretrained loads them onto the base model.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type TensorToWrite, writeSafetensors } from "../model/safetensors.ts";
import { writeFileAtomic } from "../util/atomic-write.ts";
import {
  minPeftVersion,
  PEFT_IGNORES_UNKNOWN_KEYS,
  type PeftFeatures,
  type PeftRequirement,
  versionAtLeast,
} from "./peft-version.ts";

export const ADAPTER_CONFIG = "adapter_config.json";
export const ADAPTER_WEIGHTS = "adapter_model.safetensors";

/** PEFT's state-dict prefix for a causal LM (PeftModel -> LoraModel -> LlamaForCausalLM). */
export const PEFT_PREFIX = "base_model.model.";

export interface LoraMatrices {
  layer: number;
  /** Below `model.layers.N.`, e.g. `self_attn.q_proj`. */
  path: string;
  inFeatures: number;
  outFeatures: number;
  /** [r, in] row-major. */
  a: Float32Array;
  /** [out, r] row-major. */
  b: Float32Array;
  /** DoRA's magnitude vector [out], or absent for plain LoRA. */
  magnitude?: Float32Array;
}

export interface TrainedTokens {
  ids: number[];
  hiddenSize: number;
  /** New values of the embedding rows, [ids.length, hidden]. */
  embed: Float32Array;
  /** New values of an untied lm_head's rows, or null when tied to the embedding. */
  lmHead: Float32Array | null;
}

/** PEFT's base_model_name_or_path and revision (a hub id, or a path relative to the adapter folder). */
export interface AdapterBase {
  baseModel: string | null;
  revision?: string | null;
}

export interface LoraAdapter extends AdapterBase {
  rank: number;
  alpha: number;
  dropout: number;
  rslora: boolean;
  /** DoRA: every matrix carries its magnitude vector. */
  dora?: boolean;
  targetModules: string[];
  matrices: LoraMatrices[];
  tokens: TrainedTokens | null;
  /** Whole modules that trained (PEFT's modules_to_save): the names it matches and their tensors. */
  modulesToSave?: { modules: string[]; tensors: WholeTensor[] };
}

/** A whole base tensor in HF name and layout, e.g. `model.embed_tokens.weight` [V, d]. */
export interface WholeTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

/**
 * A module-to-save tensor as PEFT saves it: the wrapper's name plus the wrapped module's key, the adapter name
 * dropped (src/peft/utils/other.py ModulesToSaveWrapper.adapter_state_dict; save_and_load.py).
 */
export const wholeTensorName = (hfName: string) => `${PEFT_PREFIX}${hfName}`;

/**
 * modules_to_save for whole tensors: the module names PEFT matches by suffix (src/peft/utils/other.py,
 * _set_trainable: key.endswith(target)), so one `norm` reaches every *norm module.
 */
export function peftModuleNames(hfNames: readonly string[]): string[] {
  const modules = hfNames.map((n) => {
    const module = n
      .replace(/\.weight$/, "")
      .split(".")
      .at(-1)!;
    return module.endsWith("norm") ? "norm" : module;
  });
  return [...new Set(modules)];
}

export function loraTensorName(layer: number, path: string, which: "A" | "B"): string {
  return `${PEFT_PREFIX}model.layers.${layer}.${path}.lora_${which}.weight`;
}

/**
 * DoRA's magnitude of one linear, as PEFT saves it: the key ends in `lora_magnitude_vector` without
 * `.weight` (src/peft/tuners/lora/model.py, the DoRA ModuleDict remapping, v0.20.0-47-g5d602fdbf).
 */
export function loraMagnitudeName(layer: number, path: string): string {
  return `${PEFT_PREFIX}model.layers.${layer}.${path}.lora_magnitude_vector`;
}

export const EMBED_TOKENS_DELTA = `${PEFT_PREFIX}model.embed_tokens.token_adapter.trainable_tokens_delta`;
export const LM_HEAD_TOKENS_DELTA = `${PEFT_PREFIX}lm_head.token_adapter.trainable_tokens_delta`;

const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;

export interface WrittenAdapter {
  files: string[];
  peft: PeftRequirement;
}

/**
 * The keys PEFT itself writes first. `peft_version` (PEFT >= 0.18 records its own version, 046e32bf1,
 * #2782) is read as the format version (e.g. tuners/oft/config.py converts older formats by it): we write
 * the oldest PEFT that reads the folder, and only where that PEFT already ignores unknown keys, so the
 * key never makes an adapter unloadable on a PEFT it would otherwise load on.
 */
function head(type: string, a: AdapterBase, peft: PeftRequirement): Record<string, unknown> {
  return {
    peft_type: type,
    task_type: "CAUSAL_LM",
    ...(versionAtLeast(peft.version, PEFT_IGNORES_UNKNOWN_KEYS) ? { peft_version: peft.version } : {}),
    base_model_name_or_path: a.baseModel,
    revision: a.revision ?? null,
    inference_mode: true,
  };
}

/** Writes a PEFT LoRA adapter folder; returns the file names and the PEFT it needs. */
export async function writeLoraAdapter(dir: string, a: LoraAdapter): Promise<WrittenAdapter> {
  await mkdir(dir, { recursive: true });
  const tensors: TensorToWrite[] = [];
  for (const m of a.matrices) {
    tensors.push({ name: loraTensorName(m.layer, m.path, "A"), shape: [a.rank, m.inFeatures], data: m.a });
    tensors.push({ name: loraTensorName(m.layer, m.path, "B"), shape: [m.outFeatures, a.rank], data: m.b });
    if (a.dora) {
      if (!m.magnitude) throw new Error(`DoRA adapter: layer ${m.layer} ${m.path} has no magnitude vector`);
      tensors.push({ name: loraMagnitudeName(m.layer, m.path), shape: [m.outFeatures], data: m.magnitude });
    }
  }
  for (const t of a.modulesToSave?.tensors ?? [])
    tensors.push({ name: wholeTensorName(t.name), shape: t.shape, data: t.data });
  let trainableTokenIndices: number[] | Record<string, number[]> | null = null;
  if (a.tokens?.ids.length) {
    const { ids, hiddenSize: d } = a.tokens;
    tensors.push({ name: EMBED_TOKENS_DELTA, shape: [ids.length, d], data: a.tokens.embed });
    // A list applies to the input embedding (and a tied lm_head); untied heads are named explicitly.
    trainableTokenIndices = ids;
    if (a.tokens.lmHead) {
      tensors.push({ name: LM_HEAD_TOKENS_DELTA, shape: [ids.length, d], data: a.tokens.lmHead });
      trainableTokenIndices = { embed_tokens: ids, lm_head: ids };
    }
  }
  await writeSafetensors(join(dir, ADAPTER_WEIGHTS), tensors, { metadata: { format: "pt" } });
  const features: PeftFeatures = {
    peftType: "LORA",
    tokens:
      trainableTokenIndices === null ? "none" : Array.isArray(trainableTokenIndices) ? "tied" : "untied",
    gqa: false,
  };
  const peft = minPeftVersion(features);
  const config = {
    ...head("LORA", a, peft),
    r: a.rank,
    lora_alpha: a.alpha,
    lora_dropout: a.dropout,
    target_modules: a.targetModules,
    bias: "none",
    use_rslora: a.rslora,
    use_dora: a.dora === true,
    fan_in_fan_out: false,
    init_lora_weights: true,
    layers_to_transform: null,
    layers_pattern: null,
    rank_pattern: {},
    alpha_pattern: {},
    modules_to_save: a.modulesToSave?.modules ?? null,
    // Only with tokens: PEFT <= 0.13 raises on this key even when it is null.
    ...(trainableTokenIndices === null ? {} : { trainable_token_indices: trainableTokenIndices }),
  };
  await writeFileAtomic(join(dir, ADAPTER_CONFIG), json(config));
  return { files: [ADAPTER_CONFIG, ADAPTER_WEIGHTS], peft };
}

export interface PrefixAdapter extends AdapterBase {
  virtualTokens: number;
  numLayers: number;
  /** headDim * numKvHeads (PEFT sizes GQA prefixes by the kv heads). */
  tokenDim: number;
  numKvHeads: number;
  /** Fewer kv heads than query heads. */
  gqa: boolean;
  /** [virtualTokens, numLayers * 2 * tokenDim]. */
  table: Float32Array;
  /** The MLP's hidden width when trained through PEFT's prefix projection. */
  encoderHiddenSize: number | null;
}

/** Writes a PEFT PREFIX_TUNING folder holding the prefixes themselves (`prompt_embeddings`). */
export async function writePrefixAdapter(dir: string, a: PrefixAdapter): Promise<WrittenAdapter> {
  await mkdir(dir, { recursive: true });
  const width = a.numLayers * 2 * a.tokenDim;
  await writeSafetensors(
    join(dir, ADAPTER_WEIGHTS),
    [{ name: "prompt_embeddings", shape: [a.virtualTokens, width], data: a.table }],
    { metadata: { format: "pt" } },
  );
  const peft = minPeftVersion({ peftType: "PREFIX_TUNING", tokens: "none", gqa: a.gqa });
  // The saved table already went through any projection: PEFT loads it as a plain embedding.
  const config = {
    ...head("PREFIX_TUNING", a, peft),
    num_virtual_tokens: a.virtualTokens,
    num_layers: a.numLayers,
    token_dim: a.tokenDim,
    num_attention_heads: a.numKvHeads,
    num_transformer_submodules: 1,
    encoder_hidden_size: a.encoderHiddenSize ?? a.tokenDim,
    prefix_projection: false,
  };
  await writeFileAtomic(join(dir, ADAPTER_CONFIG), json(config));
  return { files: [ADAPTER_CONFIG, ADAPTER_WEIGHTS], peft };
}
