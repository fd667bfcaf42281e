// The plan's method on the native engine, in one place: which base tensors train (as the planner
// selects them), LoRA and DoRA (initialised exactly as the tfjs engine's adapters: same seeds, same
// layout) and QLoRA's NF4 base. Trainable tensors, their gradient sums and AdamW moments are float32.
import { planParameters } from "../../compile/params.ts";
import type { Plan } from "../../compile/plan-schema.ts";
import { type Method, methodDefinition } from "../../methods/registry.ts";
import { trainedTokenIds } from "../../methods/runtime.ts";
import { newTokens } from "../../methods/vocab.ts";
import { loraName, loraScale } from "../../model/adapters/lora.ts";
import { quantizeNF4 } from "../../model/adapters/nf4.ts";
import type { PrefixOptions } from "../../model/adapters/prefix.ts";
import { normalArray, subSeed, uniformArray } from "../../model/adapters/random.ts";
import { EMBED_ROWS, HEAD_ROWS } from "../../model/adapters/token-rows.ts";
import { type LinearModule, linearModules, type ModelConfig } from "../../model/config.ts";
import type { NativeAddon } from "../../model/native/types.ts";
import { doraRowNorms, doraWeight } from "./dora.ts";
import { type LoraPair, nativeWeight, type PrefixTable, type TokenRows, type Trainables } from "./model.ts";
import { type BaseTensor, numel, toF32 } from "./weights.ts";

/** A tensor the optimizer updates. Checkpoints see it in the tfjs engine's layout (interchangeable). */
export interface TrainParam {
  name: string;
  /** The checkpoint shape (the tfjs engine's layout: linears [in, out], lm_head [d, V]). */
  shape: number[];
  data: Float32Array;
  grad: Float32Array;
  /** Held here as [rows, cols] and transposed at the checkpoint boundary; null when the layouts agree. */
  transposed: [number, number] | null;
}

export interface NativeMethod {
  readonly method: Method;
  readonly trainables: Trainables;
  /** In update order (the tfjs engine's). */
  readonly params: TrainParam[];
  /** LoRA pairs with their module, for artefacts. */
  readonly loraPairs: { layer: number; module: LinearModule; pair: LoraPair }[];
  decays(name: string): boolean;
}

/** What the method decides before the weights are read: the base tensors that train (kept float32). */
export function trainedBaseTensors(plan: Plan, cfg: ModelConfig): Set<string> {
  const method = plan.method;
  const { trainableTensors } = planParameters(cfg, cfg.vocabSize, newTokens(plan).length, method);
  return new Set(trainableTensors);
}

const LINEAR = /^model\.layers\.\d+\.(?:self_attn|mlp)\.\w+_proj\.weight$/;

function baseParam(t: BaseTensor): TrainParam {
  if (t.stored.dtype !== "f32") throw new Error(`"${t.name}" trains but is not stored as float32`);
  const data = t.stored.data;
  const transposed = LINEAR.test(t.name) || t.name === "lm_head.weight";
  return {
    name: t.name,
    shape: transposed ? [t.shape[1]!, t.shape[0]!] : [...t.shape],
    data,
    grad: new Float32Array(data.length),
    transposed: transposed ? [t.shape[0]!, t.shape[1]!] : null,
  };
}

/** Rows `ids` of the embedding (and an untied lm_head) as their own float32 tensors; the tables become float32. */
function tokenRows(
  addon: NativeAddon,
  cfg: ModelConfig,
  base: Map<string, BaseTensor>,
  ids: readonly number[],
  exact: ReadonlyMap<string, ReadonlyMap<number, Float32Array>>,
): TokenRows | null {
  if (ids.length === 0) return null;
  const sorted = Int32Array.from(new Set(ids)).sort();
  const d = cfg.hiddenSize;
  const take = (name: string) => {
    const t = base.get(name)!;
    const V = t.shape[0]!;
    const bad = sorted.find((id) => id < 0 || id >= V);
    if (bad !== undefined) throw new Error(`trainable token id ${bad} is outside the embedding (${V} rows)`);
    const out = new Float32Array(sorted.length * d);
    addon.embeddingGather(nativeWeight(t.stored), sorted, out, V, d);
    sorted.forEach((id, i) => {
      const row = exact.get(name)?.get(id);
      if (row) out.set(row, i * d);
    });
    return { out, V };
  };
  const embed = take("model.embed_tokens.weight");
  const head = cfg.tieWordEmbeddings ? null : take("lm_head.weight").out;
  const rowOf = new Int32Array(embed.V).fill(-1);
  sorted.forEach((id, i) => {
    rowOf[id] = i;
  });
  return {
    ids: sorted,
    rowOf,
    embed: embed.out,
    dEmbed: new Float32Array(embed.out.length),
    head,
    dHead: head ? new Float32Array(head.length) : null,
  };
}

/**
 * P-tuning v2 (the tfjs engine's init and names): the table trains directly, or through PEFT's
 * prefix projection Embedding -> Linear -> tanh -> Linear (weights stored [in, out]).
 */
function prefixTable(
  addon: NativeAddon,
  cfg: ModelConfig,
  m: PrefixOptions,
  seed: number,
  params: TrainParam[],
): PrefixTable {
  const P = m.virtualTokens;
  const td = cfg.headDim * cfg.numKvHeads;
  const out = cfg.numLayers * 2 * td;
  const param = (name: string, data: Float32Array, shape: number[]) => {
    const p: TrainParam = { name, shape, data, grad: new Float32Array(data.length), transposed: null };
    params.push(p);
    return p;
  };
  const addTo = (dst: Float32Array, src: Float32Array) => {
    for (let i = 0; i < dst.length; i++) dst[i]! += src[i]!;
  };
  if (m.reparameterize === false) {
    const e = param("prefix.prompt_embeddings", normalArray(P * out, 0.02, subSeed(seed, 1)), [P, out]);
    return { virtualTokens: P, forward: () => e.data, backward: (d) => addTo(e.grad, d) };
  }
  const h = m.reparameterize.hiddenSize;
  const e = param("prefix.embedding", normalArray(P * td, 1, subSeed(seed, 1)), [P, td]);
  const w1 = param("prefix.mlp.0.weight", uniformArray(td * h, 1 / Math.sqrt(td), subSeed(seed, 2)), [td, h]);
  const b1 = param("prefix.mlp.0.bias", uniformArray(h, 1 / Math.sqrt(td), subSeed(seed, 3)), [h]);
  const w2 = param("prefix.mlp.2.weight", uniformArray(h * out, 1 / Math.sqrt(h), subSeed(seed, 4)), [
    h,
    out,
  ]);
  const b2 = param("prefix.mlp.2.bias", uniformArray(out, 1 / Math.sqrt(h), subSeed(seed, 5)), [out]);
  const gemm = (
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    M: number,
    N: number,
    K: number,
    ta: boolean,
    tb: boolean,
    beta: number,
  ) => addon.sgemmEx(a, b, c, M, N, K, ta, tb, 1, beta, ta ? M : K, tb ? K : N, N);
  const colSum = (dst: Float32Array, src: Float32Array, rows: number) => {
    const n = dst.length;
    for (let r = 0; r < rows; r++) for (let j = 0; j < n; j++) dst[j]! += src[r * n + j]!;
  };
  let hid = new Float32Array(P * h);
  return {
    virtualTokens: P,
    forward() {
      hid = new Float32Array(P * h);
      gemm(e.data, w1.data, hid, P, h, td, false, false, 0);
      for (let i = 0; i < hid.length; i++) hid[i] = Math.tanh(hid[i]! + b1.data[i % h]!);
      const table = new Float32Array(P * out);
      gemm(hid, w2.data, table, P, out, h, false, false, 0);
      for (let i = 0; i < table.length; i++) table[i]! += b2.data[i % out]!;
      return table;
    },
    backward(dT) {
      gemm(hid, dT, w2.grad, h, out, P, true, false, 1);
      colSum(b2.grad, dT, P);
      const dpre = new Float32Array(P * h);
      gemm(dT, w2.data, dpre, P, h, out, false, true, 0);
      for (let i = 0; i < dpre.length; i++) dpre[i]! *= 1 - hid[i]! * hid[i]!;
      gemm(e.data, dpre, w1.grad, td, h, P, true, false, 1);
      colSum(b1.grad, dpre, P);
      gemm(dpre, w1.data, e.grad, P, td, h, false, true, 1);
    },
  };
}

export function buildNativeMethod(
  addon: NativeAddon,
  plan: Plan,
  cfg: ModelConfig,
  base: Map<string, BaseTensor>,
  seed: number,
  grownRows: ReadonlyMap<string, ReadonlyMap<number, Float32Array>> = new Map(),
): NativeMethod {
  const method = plan.method;
  const pieces = methodDefinition(method).pieces(method);
  const params: TrainParam[] = [];
  const baseGrads = new Map<string, Float32Array>();
  for (const name of trainedBaseTensors(plan, cfg)) {
    const t = base.get(name);
    if (!t) throw new Error(`the method trains "${name}", which the model does not have`);
    const p = baseParam(t);
    params.push(p);
    baseGrads.set(name, p.grad);
  }
  const rows = tokenRows(addon, cfg, base, trainedTokenIds(plan, method), grownRows);
  if (rows) {
    const n = rows.ids.length;
    const d = cfg.hiddenSize;
    params.push({ name: EMBED_ROWS, shape: [n, d], data: rows.embed, grad: rows.dEmbed, transposed: null });
    if (rows.head && rows.dHead)
      params.push({ name: HEAD_ROWS, shape: [n, d], data: rows.head, grad: rows.dHead, transposed: null });
  }
  const lora = new Map<string, LoraPair>();
  const loraPairs: NativeMethod["loraPairs"] = [];
  let scale = 0;
  let dropout = 0;
  const nf4 = pieces.nf4;
  if (nf4) {
    for (let l = 0; l < cfg.numLayers; l++)
      for (const m of linearModules(cfg)) {
        const t = base.get(`model.layers.${l}.${m.path}.weight`)!;
        // The checkpoint loader quantizes as it reads (quantized.ts); a random model arrives unquantized.
        if (t.stored.dtype !== "nf4") t.stored = { dtype: "nf4", q: quantizeNF4(toF32(t.stored), nf4) };
      }
  }
  const loraSettings = pieces.lora;
  if (loraSettings) {
    const all = linearModules(cfg);
    const order = all.map((m) => m.name);
    const targets =
      loraSettings.targets === "all-linear" ? all : all.filter((m) => loraSettings.targets.includes(m.name));
    const r = loraSettings.rank;
    scale = loraScale(loraSettings);
    dropout = loraSettings.dropout;
    for (let l = 0; l < cfg.numLayers; l++)
      for (const mod of targets) {
        const at = uniformArray(
          mod.inFeatures * r,
          1 / Math.sqrt(mod.inFeatures),
          subSeed(seed, l, order.indexOf(mod.name)),
        );
        const bt = new Float32Array(r * mod.outFeatures);
        // DoRA's magnitudes start at ‖W + s·B·A‖ per output row (PEFT's DoraLinearLayer.update_layer):
        // the base as the linear sees it (an NF4 base dequantized).
        const magnitude = loraSettings.dora
          ? doraRowNorms(
              addon,
              doraWeight(base.get(`model.layers.${l}.${mod.path}.weight`)!.stored),
              at,
              bt,
              r,
              scale,
              mod.outFeatures,
              mod.inFeatures,
            )
          : null;
        const pair: LoraPair = {
          at,
          bt,
          dat: new Float32Array(at.length),
          dbt: new Float32Array(bt.length),
          rank: r,
          magnitude,
          dmagnitude: magnitude ? new Float32Array(magnitude.length) : null,
        };
        lora.set(`${l}/${mod.name}`, pair);
        loraPairs.push({ layer: l, module: mod, pair });
        params.push(
          {
            name: loraName(l, mod, "A"),
            shape: [mod.inFeatures, r],
            data: at,
            grad: pair.dat,
            transposed: null,
          },
          {
            name: loraName(l, mod, "B"),
            shape: [r, mod.outFeatures],
            data: bt,
            grad: pair.dbt,
            transposed: null,
          },
        );
        if (magnitude && pair.dmagnitude)
          params.push({
            name: loraName(l, mod, "magnitude_vector"),
            shape: [mod.outFeatures],
            data: magnitude,
            grad: pair.dmagnitude,
            transposed: null,
          });
      }
  }
  const prefix = pieces.prefix ? prefixTable(addon, cfg, pieces.prefix, seed, params) : null;
  if (params.length === 0) throw new Error(`method "${method.kind}" leaves nothing to train`);
  for (const p of params)
    if (numel(p.shape) !== p.data.length) throw new Error(`"${p.name}": shape and data disagree`);
  return {
    method,
    trainables: { rows, prefix, baseGrads, lora, loraScale: scale, loraDropout: dropout },
    params,
    loraPairs,
    decays: (name) => !/(norm\.weight|\.bias)$/.test(name),
  };
}
