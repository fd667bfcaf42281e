// Reads a PEFT adapter folder (LoRA with optional trainable tokens, or prefix tuning) into plain arrays,
// checking names and shapes against the base model; bad input is a message naming the file and tensor.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { linearModules, type ModelConfig } from "../model/config.ts";
import type { TensorKind } from "../model/families/index.ts";
import { expectedTensors } from "../model/llama.ts";
import { SafetensorsFile } from "../model/safetensors.ts";
import {
  ADAPTER_CONFIG,
  ADAPTER_WEIGHTS,
  EMBED_TOKENS_DELTA,
  LM_HEAD_TOKENS_DELTA,
  loraMagnitudeName,
  PEFT_PREFIX,
  wholeTensorName,
} from "./peft.ts";

export class AdapterError extends Error {
  override name = "AdapterError";
}

export interface LoadedLora {
  kind: "lora";
  scale: number;
  rank: number;
  /** By `layer/module`: A [r, in] and B [out, r], row-major. */
  matrices: Map<
    string,
    { layer: number; module: string; a: Float32Array; b: Float32Array; magnitude: Float32Array | null }
  >;
  tokens: { ids: number[]; embed: Float32Array; lmHead: Float32Array | null } | null;
  /** Whole modules saved (modules_to_save), by HF tensor name, in HF layout. */
  whole: Map<string, { shape: number[]; data: Float32Array }>;
}

export interface LoadedPrefix {
  kind: "prefix";
  virtualTokens: number;
  /** [virtualTokens, numLayers * 2 * headDim * numKvHeads]. */
  table: Float32Array;
}

export type LoadedAdapter = LoadedLora | LoadedPrefix;

type Json = Record<string, unknown>;

async function readConfig(dir: string): Promise<Json> {
  const file = join(dir, ADAPTER_CONFIG);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    throw new AdapterError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not a JSON object");
    return v as Json;
  } catch (e) {
    throw new AdapterError(`${file}: invalid JSON (${(e as Error).message})`);
  }
}

function num(cfg: Json, key: string, file: string): number {
  const v = cfg[key];
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0)
    throw new AdapterError(`${file}: "${key}" must be a positive number, got ${JSON.stringify(v)}`);
  return v;
}

async function read(st: SafetensorsFile, name: string, shape: number[]): Promise<Float32Array> {
  if (!st.tensors.has(name))
    throw new AdapterError(`${st.path}: tensor "${name}" [${shape.join(", ")}] is missing`);
  try {
    return await st.readF32(name, shape);
  } catch (e) {
    throw new AdapterError((e as Error).message);
  }
}

/** Reads `dir` as a PEFT adapter for a model with config `cfg`. */
export async function readPeftAdapter(dir: string, cfg: ModelConfig): Promise<LoadedAdapter> {
  const conf = await readConfig(dir);
  const cfile = join(dir, ADAPTER_CONFIG);
  const type = conf.peft_type;
  if (type !== "LORA" && type !== "PREFIX_TUNING")
    throw new AdapterError(
      `${cfile}: peft_type ${JSON.stringify(type)} is not supported (LORA, PREFIX_TUNING)`,
    );
  let st: SafetensorsFile;
  try {
    st = await SafetensorsFile.open(join(dir, ADAPTER_WEIGHTS));
  } catch (e) {
    throw new AdapterError((e as Error).message);
  }
  try {
    if (type === "PREFIX_TUNING") {
      const P = num(conf, "num_virtual_tokens", cfile);
      const layers = num(conf, "num_layers", cfile);
      const td = num(conf, "token_dim", cfile);
      const want = cfg.headDim * cfg.numKvHeads;
      if (layers !== cfg.numLayers || td !== want)
        throw new AdapterError(
          `${cfile}: num_layers ${layers} and token_dim ${td} do not fit the model (${cfg.numLayers} layers, head_dim * num_key_value_heads = ${want})`,
        );
      const table = await read(st, "prompt_embeddings", [P, layers * 2 * td]);
      return { kind: "prefix", virtualTokens: P, table };
    }
    const r = num(conf, "r", cfile);
    const alpha = num(conf, "lora_alpha", cfile);
    const scale = conf.use_rslora === true ? alpha / Math.sqrt(r) : alpha / r;
    const dora = conf.use_dora === true;
    const mods = linearModules(cfg);
    const matrices: LoadedLora["matrices"] = new Map();
    const known = new Set<string>();
    for (let l = 0; l < cfg.numLayers; l++) {
      for (const m of mods) {
        const base = `${PEFT_PREFIX}model.layers.${l}.${m.path}`;
        const an = `${base}.lora_A.weight`;
        const bn = `${base}.lora_B.weight`;
        const mn = loraMagnitudeName(l, m.path);
        known.add(an).add(bn);
        if (dora) known.add(mn);
        if (!st.tensors.has(an) && !st.tensors.has(bn)) continue;
        const a = await read(st, an, [r, m.inFeatures]);
        const b = await read(st, bn, [m.outFeatures, r]);
        const magnitude = dora ? await read(st, mn, [m.outFeatures]) : null;
        matrices.set(`${l}/${m.name}`, { layer: l, module: m.name, a, b, magnitude });
      }
    }
    known.add(EMBED_TOKENS_DELTA).add(LM_HEAD_TOKENS_DELTA);
    const whole: LoadedLora["whole"] = new Map();
    // Which tensors modules_to_save can hold whole (linears and their biases carry the adapters).
    const savedWhole: Record<TensorKind, boolean> = {
      embedding: true,
      lm_head: true,
      norm: true,
      linear: false,
      bias: false,
    };
    if (Array.isArray(conf.modules_to_save))
      for (const t of expectedTensors(cfg)) {
        const name = wholeTensorName(t.name);
        const info = st.tensors.get(name);
        if (!savedWhole[t.kind] || !info) continue;
        known.add(name);
        // The embedding's rows may outnumber the base's (added tokens): its width is checked.
        const shape = [...info.shape];
        if (shape.at(-1) !== t.shape.at(-1) || shape.length !== t.shape.length)
          throw new AdapterError(
            `${st.path}: tensor "${name}" [${shape.join(", ")}] does not fit [${t.shape.join(", ")}]`,
          );
        whole.set(t.name, { shape, data: await read(st, name, shape) });
      }
    const stray = [...st.tensors.keys()].find((n) => !known.has(n));
    if (stray)
      throw new AdapterError(`${st.path}: tensor "${stray}" does not belong to this model's LoRA layers`);
    let tokens: LoadedLora["tokens"] = null;
    const idx = conf.trainable_token_indices;
    if (idx !== null && idx !== undefined) {
      const ids = Array.isArray(idx) ? idx : (idx as Json).embed_tokens;
      if (!Array.isArray(ids) || !ids.every((i) => Number.isInteger(i) && i >= 0))
        throw new AdapterError(`${cfile}: "trainable_token_indices" must list token ids`);
      const d = cfg.hiddenSize;
      const embed = await read(st, EMBED_TOKENS_DELTA, [ids.length, d]);
      const lmHead = st.tensors.has(LM_HEAD_TOKENS_DELTA)
        ? await read(st, LM_HEAD_TOKENS_DELTA, [ids.length, d])
        : null;
      tokens = { ids: ids as number[], embed, lmHead };
    }
    return { kind: "lora", scale, rank: r, matrices, tokens, whole };
  } finally {
    await st.close();
  }
}
