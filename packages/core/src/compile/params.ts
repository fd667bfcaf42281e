// Parameter groups: which tensors of the model train, stay frozen, or are stored quantized, per method.

import { type Method, methodDefinition } from "../methods/registry.ts";
import type { ModelConfig } from "../model/config.ts";
import { familyOf, type TensorFact, type TensorKind } from "../model/families/index.ts";
import { unreachable } from "../util/unreachable.ts";
import type { ParameterGroup } from "./plan-schema.ts";

export type { TensorFact };

/** Every tensor of the model with `vocab` embedding rows, as its family lists them. */
export function tensorInventory(cfg: ModelConfig, vocab: number): TensorFact[] {
  return familyOf(cfg).tensors(cfg, vocab);
}

const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** What an NF4 base stores in 4 bits: the decoder's linear weights; the rest stays float32. */
const quantizedInNf4Base: Record<TensorKind, boolean> = {
  linear: true,
  embedding: false,
  lm_head: false,
  norm: false,
  bias: false,
};

/** Biases share their weight's group unless stored in another dtype. */
const biasOfAWeight: Record<TensorKind, boolean> = {
  bias: true,
  linear: false,
  embedding: false,
  lm_head: false,
  norm: false,
};

/** The plan's group of a tensor: one per whole-model tensor, one per module of a layer, the layers' norms together. */
function layerGroup(t: TensorFact): string {
  if (t.layer === null) return t.name.replace(/\.weight$/, "");
  switch (t.kind) {
    case "norm":
      return "layers.*.norms";
    case "linear":
    case "bias":
    case "embedding":
    case "lm_head":
      return `layers.*.${t.name.split(".").slice(3, 5).join(".")}`;
    default:
      return unreachable(t.kind, "tensor kind");
  }
}

/** Bytes per NF4 parameter: 4-bit codes plus absmax per 64 values (8-bit with double quantization). */
export function nf4BytesPerParam(blockSize: number, doubleQuant: boolean): number {
  const absmax = doubleQuant ? 1 / blockSize + 4 / (blockSize * 256) : 4 / blockSize;
  return 0.5 + absmax;
}

interface Role {
  role: ParameterGroup["role"];
  dtype: ParameterGroup["dtype"];
}

/** How an engine stores a frozen base tensor, given the checkpoint's dtype and the tensor's rank. */
export type FrozenStorage = (
  checkpoint: "float32" | "bfloat16" | "float16",
  dims: number,
) => ParameterGroup["dtype"];

/** The tfjs engine: every tensor float32 (NF4 aside). */
export const allFloat32: FrozenStorage = () => "float32";

/** Bytes one parameter takes in `dtype` (NF4: codes plus its absmax constants). */
export function bytesPerParameter(
  dtype: ParameterGroup["dtype"],
  nf4?: { blockSize: number; doubleQuant: boolean } | null,
): number {
  if (dtype === "nf4") return nf4BytesPerParam(nf4?.blockSize ?? 64, nf4?.doubleQuant ?? true);
  return dtype === "float32" ? 4 : 2;
}

export interface ParameterPlan {
  groups: ParameterGroup[];
  /** Names of base tensors that train (whole tensors). */
  trainableTensors: string[];
}

/**
 * Groups of parameters for `method`, with `added` new token rows at the end of the embedding, frozen
 * tensors stored as `frozenStorage` says (trainable ones are float32, QLoRA's base linears NF4).
 */
export function planParameters(
  cfg: ModelConfig,
  vocab: number,
  added: number,
  method: Method,
  frozenStorage: FrozenStorage = allFloat32,
): ParameterPlan {
  const def = methodDefinition(method);
  const tensors = tensorInventory(cfg, vocab);
  const groups = new Map<string, ParameterGroup>();
  const trainableTensors: string[] = [];
  const nf4 = def.quantizedBase(method);
  const add = (name: string, role: Role, parameters: number, tensorsCount = 1) => {
    const key = `${name}|${role.role}|${role.dtype}`;
    const perParam = bytesPerParameter(role.dtype, nf4);
    const g = groups.get(key) ?? {
      name,
      role: role.role,
      tensors: 0,
      parameters: 0,
      dtype: role.dtype,
      bytesPerParameter: perParam,
      bytes: 0,
    };
    g.tensors += tensorsCount;
    g.parameters += parameters;
    g.bytes += Math.round(parameters * perParam);
    groups.set(key, g);
  };
  const trainable: Role = { role: "trainable", dtype: "float32" };
  // New token rows train as their own small tensors (PEFT trainable tokens): all new ones, or those named.
  const rowSelection = def.newTokenRows(method);
  const newRowCount = rowSelection === false ? 0 : rowSelection === true ? added : rowSelection.length;

  for (const t of tensors) {
    const n = numel(t.shape);
    if (def.trainsTensor(method, t, cfg)) {
      add(layerGroup(t), trainable, n);
      trainableTensors.push(t.name);
      continue;
    }
    if (nf4 && quantizedInNf4Base[t.kind]) {
      add(layerGroup(t), { role: "quantized", dtype: "nf4" }, n);
      continue;
    }
    const dtype = frozenStorage(cfg.torchDtype, t.shape.length);
    // A bias beside a weight stored narrower is a group of its own.
    const name =
      biasOfAWeight[t.kind] && dtype !== frozenStorage(cfg.torchDtype, 2)
        ? `${layerGroup(t)} (bias)`
        : layerGroup(t);
    add(name, { role: "frozen", dtype }, n);
  }

  if (added > 0 && newRowCount > 0) {
    const rows = newRowCount * cfg.hiddenSize;
    add("embed_tokens (new rows)", trainable, rows);
    if (!cfg.tieWordEmbeddings) add("lm_head (new rows)", trainable, rows);
  }
  // The method's own parameters (LoRA matrices, prefixes).
  for (const g of def.addedParameters(method, cfg)) add(g.name, trainable, g.parameters, g.tensors);
  return { groups: [...groups.values()], trainableTensors };
}

export function summarizeParameters(groups: ParameterGroup[]) {
  const sum = (role: ParameterGroup["role"]) =>
    groups.filter((g) => g.role === role).reduce((a, g) => a + g.parameters, 0);
  const trainable = sum("trainable");
  const frozen = sum("frozen");
  const quantized = sum("quantized");
  const total = trainable + frozen + quantized;
  return { total, trainable, frozen, quantized, trainableFraction: total ? trainable / total : 0 };
}
