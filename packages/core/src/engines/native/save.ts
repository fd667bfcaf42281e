// The native engine's artefacts through the same writers as the tfjs engine's methods (PEFT adapter,
// merged HF model), handed plain float32 arrays: LoRA deltas and NF4 bases merged per tensor.
import { join } from "node:path";
import type { Plan } from "../../compile/plan-schema.ts";
import { writeAdapterReadme } from "../../export/adapter-readme.ts";
import { recordedBase } from "../../export/base-model.ts";
import { writeGenerationConfig, writeHfModel } from "../../export/hf-model.ts";
import {
  peftModuleNames,
  type TrainedTokens,
  writeLoraAdapter,
  writePrefixAdapter,
} from "../../export/peft.ts";
import { writeTokenizerFiles } from "../../export/tokenizer-files.ts";
import { methodDefinition } from "../../methods/registry.ts";
import { doraRescale } from "../../methods/save.ts";
import { newTokens } from "../../methods/vocab.ts";
import { hfModuleNames } from "../../model/config.ts";
import { expectedTensors } from "../../model/llama.ts";
import type { TensorToWrite } from "../../model/safetensors.ts";
import { writeFolderAtomic } from "../../util/atomic-folder.ts";
import type { SaveArtefactsOptions } from "../engine.ts";
import { type NativeMethod, trainedBaseTensors } from "./methods.ts";
import type { NativeModel } from "./model.ts";
import { toF32, transpose } from "./weights.ts";

const LINEAR = /^model\.layers\.(\d+)\.(?:self_attn|mlp)\.(\w+_proj)\.weight$/;

function stopIds(eos: number | null, base: number | number[] | null): number[] {
  const rest = base === null ? [] : Array.isArray(base) ? base : [base];
  return [...new Set([...(eos === null ? [] : [eos]), ...rest])];
}

/** The adapter's token rows: the trained ones, else the initial rows of new tokens (base + adapter still has them). */
function trainedTokens(model: NativeModel, plan: Plan, nm: NativeMethod): TrainedTokens | null {
  const d = model.config.hiddenSize;
  const rows = nm.trainables.rows;
  if (rows)
    return {
      ids: [...rows.ids],
      hiddenSize: d,
      embed: Float32Array.from(rows.embed),
      lmHead: rows.head ? Float32Array.from(rows.head) : null,
    };
  const ids = newTokens(plan).map((t) => t.id);
  if (!ids.length) return null;
  const take = (name: string) => {
    const table = toF32(model.base.get(name)!.stored);
    const out = new Float32Array(ids.length * d);
    ids.forEach((id, i) => {
      out.set(table.subarray(id * d, (id + 1) * d), i * d);
    });
    return out;
  };
  return {
    ids,
    hiddenSize: d,
    embed: take("model.embed_tokens.weight"),
    lmHead: model.config.tieWordEmbeddings ? null : take("lm_head.weight"),
  };
}

/**
 * The model's tensors in HF names and layout (float32), with LoRA deltas (DoRA's rescaling), trained rows and
 * NF4 bases merged.
 */
function mergedTensors(model: NativeModel, nm: NativeMethod): TensorToWrite[] {
  const cfg = model.config;
  const pairs = new Map(nm.loraPairs.map((p) => [`${p.layer}/${p.module.path.split(".")[1]}`, p]));
  return expectedTensors(cfg).map(({ name, shape }) => ({
    name,
    shape,
    data: async () => {
      const t = model.base.get(name)!;
      const values = toF32(t.stored);
      const rows = nm.trainables.rows;
      const rowValues =
        rows && name === "model.embed_tokens.weight"
          ? rows.embed
          : rows && name === "lm_head.weight"
            ? rows.head
            : null;
      if (rows && rowValues) {
        const d = cfg.hiddenSize;
        rows.ids.forEach((id, i) => {
          values.set(rowValues.subarray(i * d, (i + 1) * d), id * d);
        });
      }
      const lin = LINEAR.exec(name);
      const p = lin ? pairs.get(`${lin[1]}/${lin[2]}`) : undefined;
      if (p) {
        const delta = model.loraDelta(p.pair, p.module.inFeatures, p.module.outFeatures);
        for (let i = 0; i < values.length; i++) values[i]! += delta[i]!;
        if (p.pair.magnitude) doraRescale(values, p.pair.magnitude);
      }
      return values;
    },
  }));
}

export async function saveNativeArtefacts(
  model: NativeModel,
  plan: Plan,
  nm: NativeMethod,
  opts: SaveArtefactsOptions,
): Promise<string[]> {
  const method = nm.method;
  const cfg = model.config;
  const out: string[] = [];
  const tokenizer = {
    added: plan.tokenizer.added,
    chatTemplate: opts.chatTemplate,
    eos: plan.tokenizer.eos?.text ?? null,
  };
  const def = methodDefinition(method);
  const pieces = def.pieces(method);
  const isLora = def.adapter === "lora";
  const prefix = nm.trainables.prefix;
  if (pieces.prefix && prefix) {
    // Prefixes cannot be merged into weights: a prefix run always writes its adapter.
    const dir = join(opts.outDir, "adapter");
    const base = recordedBase(opts.baseModel, dir);
    const { reparameterize } = pieces.prefix;
    // Written whole (util/atomic-folder): a crash leaves the old adapter/ or none, never part of one.
    const files = await writeFolderAtomic(dir, async (tmp) => {
      const written = await writePrefixAdapter(tmp, {
        baseModel: base.name,
        revision: base.revision,
        virtualTokens: prefix.virtualTokens,
        numLayers: cfg.numLayers,
        tokenDim: cfg.numKvHeads * cfg.headDim,
        numKvHeads: cfg.numKvHeads,
        gqa: cfg.numKvHeads < cfg.numHeads,
        table: Float32Array.from(prefix.forward()),
        encoderHiddenSize: reparameterize === false ? null : reparameterize.hiddenSize,
      });
      const files = [...written.files];
      const eosTokenId = plan.tokenizer.eos?.id ?? null;
      files.push(await writeGenerationConfig(tmp, cfg, { baseDir: plan.model.source.path, eosTokenId }));
      files.push(
        await writeAdapterReadme(tmp, {
          method: "Prefix tuning",
          base: { ...base, isPath: "dir" in opts.baseModel },
          peft: written.peft,
          newTokens: newTokens(plan).map((t) => t.content),
          stop: { text: plan.tokenizer.eos?.text ?? null, ids: stopIds(eosTokenId, cfg.eosTokenId) },
        }),
      );
      if (opts.tokenizerDir) files.push(...(await writeTokenizerFiles(tmp, opts.tokenizerDir, tokenizer)));
      return files;
    });
    return files.map((f) => join("adapter", f));
  }
  const merged = mergedTensors(model, nm);
  if (pieces.lora && opts.save !== "merged") {
    const m = pieces.lora;
    const dir = join(opts.outDir, "adapter");
    const base = recordedBase(opts.baseModel, dir);
    // As the family names the modules (what PEFT matches), as the tfjs engine writes them (methods/save.ts).
    const targets = hfModuleNames(cfg, [...new Set(nm.loraPairs.map((p) => p.module.name))]);
    // Whole tensors that trained (LoRA's modulesToSave), as the merged model writes them.
    const trained = trainedBaseTensors(plan, cfg);
    const whole = merged.filter((t) => trained.has(t.name));
    // Written whole (util/atomic-folder): a crash leaves the old adapter/ or none, never part of one.
    const files = await writeFolderAtomic(dir, async (tmp) => {
      const written = await writeLoraAdapter(tmp, {
        baseModel: base.name,
        revision: base.revision,
        rank: m.rank,
        alpha: m.alpha,
        dropout: m.dropout,
        rslora: m.rslora,
        dora: m.dora === true,
        targetModules: targets,
        matrices: nm.loraPairs.map(({ layer, module, pair }) => ({
          layer,
          path: module.path,
          inFeatures: module.inFeatures,
          outFeatures: module.outFeatures,
          a: transpose(pair.at, module.inFeatures, pair.rank),
          b: transpose(pair.bt, pair.rank, module.outFeatures),
          ...(pair.magnitude ? { magnitude: Float32Array.from(pair.magnitude) } : {}),
        })),
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
        tokens: trained.has("model.embed_tokens.weight") ? null : trainedTokens(model, plan, nm),
      });
      const files = [...written.files];
      const eosTokenId = plan.tokenizer.eos?.id ?? null;
      files.push(await writeGenerationConfig(tmp, cfg, { baseDir: plan.model.source.path, eosTokenId }));
      files.push(
        await writeAdapterReadme(tmp, {
          method: def.label,
          base: { ...base, isPath: "dir" in opts.baseModel },
          peft: written.peft,
          newTokens: newTokens(plan).map((t) => t.content),
          stop: { text: plan.tokenizer.eos?.text ?? null, ids: stopIds(eosTokenId, cfg.eosTokenId) },
        }),
      );
      if (opts.tokenizerDir) files.push(...(await writeTokenizerFiles(tmp, opts.tokenizerDir, tokenizer)));
      return files;
    });
    out.push(...files.map((f) => join("adapter", f)));
  }
  if (!isLora || opts.save !== "adapter") {
    const files = await writeHfModel(join(opts.outDir, "model"), cfg, merged, {
      baseDir: plan.model.source.path,
      eosTokenId: plan.tokenizer.eos?.id ?? null,
      tokenizerDir: opts.tokenizerDir,
      tokenizer,
    });
    out.push(...files.map((f) => join("model", f)));
  }
  return out;
}
