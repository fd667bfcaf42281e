// A method's artefacts: the PEFT adapter (LoRA, QLoRA, prefix) and/or the merged HF model folder.
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { planParameters } from "../compile/params.ts";
import type { Plan } from "../compile/plan-schema.ts";
import type { SaveOptions } from "../engines/tfjs/method-runtime.ts";
import { writeAdapterReadme } from "../export/adapter-readme.ts";
import { recordedBase } from "../export/base-model.ts";
import { writeGenerationConfig, writeHfModel } from "../export/hf-model.ts";
import {
  type LoraMatrices,
  peftModuleNames,
  type TrainedTokens,
  type WrittenAdapter,
  writeLoraAdapter,
  writePrefixAdapter,
} from "../export/peft.ts";
import { writeTokenizerFiles } from "../export/tokenizer-files.ts";
import { type Lora, type LoraPair, loraDeltaT } from "../model/adapters/lora.ts";
import type { NF4Base } from "../model/adapters/nf4-base.ts";
import { pissaLoraAlpha, pissaToLora } from "../model/adapters/pissa.ts";
import type { Prefix } from "../model/adapters/prefix.ts";
import type { TokenRows } from "../model/adapters/token-rows.ts";
import { hfModuleNames } from "../model/config.ts";
import { expectedTensors, type Model } from "../model/llama.ts";
import type { TensorToWrite } from "../model/safetensors.ts";
import { writeFolderAtomic } from "../util/atomic-folder.ts";
import { type Method, methodDefinition } from "./registry.ts";
import { newTokens } from "./vocab.ts";

export interface MethodParts {
  rows: TokenRows | null;
  lora: Lora | null;
  nf4: NF4Base | null;
  prefix: Prefix | null;
}

function values(t: tf.Tensor): Float32Array {
  const d = t.dataSync() as Float32Array;
  t.dispose();
  return d;
}

/** The model's tensors in HF names and layout, with LoRA deltas, trained rows and NF4 bases merged in f32. */
export function mergedTensors(model: Model, parts: MethodParts): TensorToWrite[] {
  const pairs = new Map<string, LoraPair>();
  for (const p of parts.lora?.pairs ?? []) pairs.set(`${p.layer}/${p.module.name}`, p);
  return expectedTensors(model.config).map(({ name, shape, kind, layer, role }) => ({
    name,
    shape,
    data: async () => {
      const lin = kind === "linear" && layer !== null && role ? { layer, role } : null;
      const key = lin ? `${lin.layer}/${lin.role}` : "";
      let out: Float32Array;
      if (lin && parts.nf4?.linears.has(key)) out = parts.nf4.dequantized(lin.layer, lin.role);
      else if (lin || name === "lm_head.weight") out = values(tf.transpose(model.w(name)));
      else out = Float32Array.from(model.w(name).dataSync() as Float32Array);
      const pair = pairs.get(key);
      if (lin && pair) {
        const delta = values(tf.tidy(() => tf.transpose(loraDeltaT(pair, parts.lora!.scale))));
        for (let i = 0; i < out.length; i++) out[i]! += delta[i]!;
        if (pair.magnitude) doraRescale(out, pair.magnitude.dataSync() as Float32Array);
      }
      if (parts.rows && (name === "model.embed_tokens.weight" || name === "lm_head.weight"))
        out = await parts.rows.mergedRows(name, out);
      return out;
    },
  }));
}

/**
 * DoRA's merge in place on W + s·B·A ([out, in] rows): W' = m · (W + s·B·A) / ‖W + s·B·A‖ per row, as PEFT's
 * DoraLinearVariant.merge_safe (src/peft/tuners/lora/variants.py, v0.20).
 */
export function doraRescale(w: Float32Array, magnitude: ArrayLike<number>): void {
  const out = magnitude.length;
  const cols = w.length / out;
  for (let j = 0; j < out; j++) {
    let s2 = 0;
    for (let i = j * cols; i < (j + 1) * cols; i++) s2 += w[i]! * w[i]!;
    const f = magnitude[j]! / Math.sqrt(s2);
    for (let i = j * cols; i < (j + 1) * cols; i++) w[i]! *= f;
  }
}

/** Rows of new tokens that did not train (their initial values), so base + adapter still has them. */
function initialRows(model: Model, ids: number[]): TrainedTokens | null {
  if (!ids.length) return null;
  const take = (name: string, transposed: boolean) =>
    values(
      tf.tidy(() => {
        const idx = tf.tensor1d(ids, "int32");
        return transposed ? tf.transpose(tf.gather(model.w(name), idx, 1)) : tf.gather(model.w(name), idx);
      }),
    );
  return {
    ids,
    hiddenSize: model.config.hiddenSize,
    embed: take("model.embed_tokens.weight", false),
    lmHead: model.config.tieWordEmbeddings ? null : take("lm_head.weight", true),
  };
}

/** The adapter's matrices; PiSSA's converted to a plain LoRA of rank 2r on the original base (pissaToLora). */
function loraMatrices(l: Lora): LoraMatrices[] {
  return l.pairs.map((p) => {
    const [out, inF] = [p.module.outFeatures, p.module.inFeatures];
    const a = values(tf.transpose(p.a));
    const b = values(tf.transpose(p.b));
    const ab = p.initial
      ? pissaToLora({ a, b, a0: p.initial.a, b0: p.initial.b, out, inF }, l.rank)
      : { a, b };
    return {
      layer: p.layer,
      path: p.module.path,
      inFeatures: inF,
      outFeatures: out,
      ...ab,
      ...(p.magnitude ? { magnitude: Float32Array.from(p.magnitude.dataSync() as Float32Array) } : {}),
    };
  });
}

/** The trained end token first, then the base's. */
function stopIds(eos: number | null, base: number | number[] | null): number[] {
  const rest = base === null ? [] : Array.isArray(base) ? base : [base];
  return [...new Set([...(eos === null ? [] : [eos]), ...rest])];
}

export async function saveMethod(
  model: Model,
  plan: Plan,
  method: Method,
  parts: MethodParts,
  opts: SaveOptions,
): Promise<string[]> {
  const out: string[] = [];
  const tokenizer = {
    added: plan.tokenizer.added,
    chatTemplate: opts.chatTemplate,
    eos: plan.tokenizer.eos?.text ?? null,
  };
  const def = methodDefinition(method);
  const writesAdapter = def.adapter !== null;
  // What cannot be merged into weights (prefixes) always writes its adapter.
  const wantAdapter = writesAdapter && (opts.save !== "merged" || !def.mergeable);
  const wantMerged = !writesAdapter || (def.mergeable && opts.save !== "adapter");
  if (wantAdapter) {
    const dir = join(opts.outDir, "adapter");
    const base = recordedBase(opts.baseModel, dir);
    const baseRef = { baseModel: base.name, revision: base.revision };
    // Written whole (util/atomic-folder): a crash leaves the old adapter/ or none, never part of one.
    const files = await writeFolderAtomic(dir, async (tmp) => {
      let written: WrittenAdapter;
      if (parts.prefix) {
        const t = parts.prefix.table();
        const table = values(t);
        const m = parts.prefix;
        written = await writePrefixAdapter(tmp, {
          ...baseRef,
          virtualTokens: parts.prefix.virtualTokens,
          numLayers: model.config.numLayers,
          tokenDim: parts.prefix.tokenDim,
          numKvHeads: model.config.numKvHeads,
          gqa: model.config.numKvHeads < model.config.numHeads,
          table,
          encoderHiddenSize: m.encoderHiddenSize,
        });
      } else {
        const l = parts.lora!;
        const m = l.options;
        // Whole tensors that trained (LoRA's modulesToSave), as the merged model writes them.
        const trained = new Set(
          planParameters(model.config, model.config.vocabSize, newTokens(plan).length, method)
            .trainableTensors,
        );
        const whole = mergedTensors(model, parts).filter((t) => trained.has(t.name));
        const wholeEmbedding = trained.has("model.embed_tokens.weight");
        const rows = parts.rows;
        // PiSSA's adapter is saved converted, as PEFT's save_pretrained(path_initial_model_for_weight_conversion=...)
        // writes it: rank 2r, alpha keeping the scale, init_lora_weights true (loading must not decompose again).
        const pissa = m.init !== undefined;
        written = await writeLoraAdapter(tmp, {
          ...baseRef,
          rank: pissa ? 2 * m.rank : m.rank,
          alpha: pissa ? pissaLoraAlpha(m.alpha, m.rslora) : m.alpha,
          dropout: m.dropout,
          rslora: m.rslora,
          dora: m.dora === true,
          targetModules: hfModuleNames(model.config, l.targets),
          matrices: loraMatrices(l),
          ...(whole.length
            ? {
                modulesToSave: {
                  modules: peftModuleNames(whole.map((t) => t.name)),
                  tensors: await Promise.all(
                    whole.map(async (t) => ({
                      name: t.name,
                      shape: [...t.shape],
                      data: typeof t.data === "function" ? await t.data() : t.data,
                    })),
                  ),
                },
              }
            : {}),
          // A whole embedding carries the new rows itself (PEFT refuses both on one module).
          tokens: wholeEmbedding
            ? null
            : rows
              ? {
                  ids: [...rows.ids],
                  hiddenSize: model.config.hiddenSize,
                  embed: await rows.rows("model.embed_tokens.weight"),
                  lmHead: model.config.tieWordEmbeddings ? null : await rows.rows("lm_head.weight"),
                }
              : initialRows(
                  model,
                  newTokens(plan).map((t) => t.id),
                ),
        });
      }
      const files = [...written.files];
      // The base's generation config + the trained end token, as the merged folder has it.
      const eosTokenId = plan.tokenizer.eos?.id ?? null;
      files.push(
        await writeGenerationConfig(tmp, model.config, { baseDir: plan.model.source.path, eosTokenId }),
      );
      files.push(
        await writeAdapterReadme(tmp, {
          method: def.label,
          base: { ...base, isPath: "dir" in opts.baseModel },
          peft: written.peft,
          newTokens: newTokens(plan).map((t) => t.content),
          ...(parts.lora?.options.init
            ? { pissa: { init: parts.lora.options.init, rank: parts.lora.rank } }
            : {}),
          stop: {
            text: plan.tokenizer.eos?.text ?? null,
            ids: stopIds(eosTokenId, model.config.eosTokenId),
          },
        }),
      );
      if (opts.tokenizerDir) files.push(...(await writeTokenizerFiles(tmp, opts.tokenizerDir, tokenizer)));
      return files;
    });
    out.push(...files.map((f) => join("adapter", f)));
  }
  if (wantMerged) {
    const files = await writeHfModel(join(opts.outDir, "model"), model.config, mergedTensors(model, parts), {
      baseDir: plan.model.source.path,
      eosTokenId: plan.tokenizer.eos?.id ?? null,
      tokenizerDir: opts.tokenizerDir,
      tokenizer,
    });
    out.push(...files.map((f) => join("model", f)));
  }
  return out;
}
