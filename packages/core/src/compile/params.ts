// Parameter groups: which tensors of the model train, stay frozen, or are stored quantized, per method.
import { linearModules, type ModelConfig } from "../model/config.ts";
import { familyOf, type TensorFact } from "../model/families/index.ts";
import type { Recipe } from "../recipe/schema/recipe.ts";
import type { ParameterGroup } from "./plan-schema.ts";

export type { TensorFact };

/** Every tensor of the model with `vocab` embedding rows, as its family lists them. */
export function tensorInventory(cfg: ModelConfig, vocab: number): TensorFact[] {
  return familyOf(cfg).tensors(cfg, vocab);
}

const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Bytes per NF4 parameter: 4-bit codes plus absmax per 64 values (8-bit with double quantization). */
export function nf4BytesPerParam(blockSize: number, doubleQuant: boolean): number {
  const absmax = doubleQuant ? 1 / blockSize + 4 / (blockSize * 256) : 4 / blockSize;
  return 0.5 + absmax;
}

interface Role {
  role: ParameterGroup["role"];
  dtype: ParameterGroup["dtype"];
}

export interface ParameterPlan {
  groups: ParameterGroup[];
  /** Names of base tensors that train (whole tensors). */
  trainableTensors: string[];
}

/** Groups of parameters for `method`, with `added` new token rows at the end of the embedding. */
export function planParameters(
  cfg: ModelConfig,
  vocab: number,
  added: number,
  method: Recipe["method"],
): ParameterPlan {
  const tensors = tensorInventory(cfg, vocab);
  const groups = new Map<string, ParameterGroup>();
  const trainableTensors: string[] = [];
  const add = (name: string, role: Role, parameters: number, tensorsCount = 1, bytesPerParam = 4) => {
    const key = `${name}|${role.role}|${role.dtype}`;
    const g = groups.get(key) ?? {
      name,
      role: role.role,
      tensors: 0,
      parameters: 0,
      dtype: role.dtype,
      bytes: 0,
    };
    g.tensors += tensorsCount;
    g.parameters += parameters;
    g.bytes += Math.round(parameters * bytesPerParam);
    groups.set(key, g);
  };
  const trainable: Role = { role: "trainable", dtype: "float32" };
  const frozen: Role = { role: "frozen", dtype: "float32" };
  const layerGroup = (t: TensorFact) =>
    t.layer === null
      ? t.name.replace(/\.weight$/, "")
      : `layers.*.${t.kind === "norm" ? "norms" : t.name.split(".").slice(3, 5).join(".")}`;

  const selectPartial = partialSelector(cfg, method);
  const trainNewRows =
    added > 0 &&
    ((method.kind === "frozen" && method.trainable.newTokens !== false) ||
      ((method.kind === "lora" || method.kind === "qlora") && method.trainNewTokens));
  const newRowCount =
    method.kind === "frozen" && Array.isArray(method.trainable.newTokens)
      ? method.trainable.newTokens.length
      : added;

  for (const t of tensors) {
    const n = numel(t.shape);
    let trains = false;
    if (method.kind === "full") trains = true;
    else if (method.kind === "partial") trains = selectPartial(t);
    else if (method.kind === "frozen")
      trains =
        (t.kind === "lm_head" && method.trainable.lmHead) || (t.kind === "norm" && method.trainable.norms);

    if (trains) {
      add(layerGroup(t), trainable, n);
      trainableTensors.push(t.name);
      continue;
    }
    if (method.kind === "qlora" && t.kind === "linear") {
      const q = method.quantization;
      add(
        layerGroup(t),
        { role: "quantized", dtype: "nf4" },
        n,
        1,
        nf4BytesPerParam(q.blockSize, q.doubleQuant),
      );
      continue;
    }
    add(layerGroup(t), frozen, n);
  }

  // New token rows train as their own small tensors (PEFT trainable tokens): embedding, and lm_head when untied.
  if (trainNewRows && newRowCount > 0) {
    const rows = newRowCount * cfg.hiddenSize;
    add("embed_tokens (new rows)", trainable, rows);
    if (!cfg.tieWordEmbeddings) add("lm_head (new rows)", trainable, rows);
  }

  if (method.kind === "lora" || method.kind === "qlora") {
    const targets =
      method.targets === "all-linear"
        ? linearModules(cfg)
        : linearModules(cfg).filter((m) => method.targets.includes(m.name));
    for (const m of targets) {
      add(
        `lora.${m.name}`,
        trainable,
        cfg.numLayers * method.rank * (m.inFeatures + m.outFeatures),
        2 * cfg.numLayers,
      );
    }
  }
  if (method.kind === "prefix") {
    const tokenDim = cfg.headDim * cfg.numKvHeads;
    const out = cfg.numLayers * 2 * tokenDim;
    if (method.reparameterize === false) {
      add("prefix.prompt_embeddings", trainable, method.virtualTokens * out);
    } else {
      const h = method.reparameterize.hiddenSize;
      add("prefix.embedding", trainable, method.virtualTokens * tokenDim);
      add("prefix.mlp", trainable, tokenDim * h + h + h * out + out, 4);
    }
  }
  return { groups: [...groups.values()], trainableTensors };
}

function partialSelector(cfg: ModelConfig, method: Recipe["method"]): (t: TensorFact) => boolean {
  if (method.kind !== "partial") return () => false;
  const layers = new Set<number>();
  if (method.lastLayers !== undefined) {
    for (let i = Math.max(0, cfg.numLayers - method.lastLayers); i < cfg.numLayers; i++) layers.add(i);
  }
  for (const [start, end] of method.layerRanges ?? []) {
    for (let i = start; i < Math.min(end, cfg.numLayers); i++) layers.add(i);
  }
  const patterns = (method.modules ?? []).map((p) => new RegExp(p));
  return (t) => {
    if (t.kind === "embedding") return method.embeddings || (method.lmHead && cfg.tieWordEmbeddings);
    if (t.kind === "lm_head") return method.lmHead;
    if (t.layer !== null && layers.has(t.layer)) return true;
    return patterns.some((re) => re.test(t.name));
  };
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
