// The native engine: the plan's model and method on plain typed arrays (outside the V8 and wasm heaps),
// each op one @sftkit/native kernel. Frozen weights keep their checkpoint dtype; trainable tensors,
// gradients and AdamW moments are float32.
import { existsSync } from "node:fs";
import * as tf from "@tensorflow/tfjs-core";
import type { Plan } from "../../compile/plan-schema.ts";
import { newTokens } from "../../methods/vocab.ts";
import { neftuneNoise } from "../../model/adapters/neftune.ts";
import { type ModelConfig, readHfConfig } from "../../model/config.ts";
import { beyondLlama, decoderFeatures } from "../../model/families/index.ts";
import { resolveHubModel } from "../../model/hub-cache.ts";
import type { NativeAddon } from "../../model/native/types.ts";
import { shiftLabels } from "../../model/train-step.ts";
import { gradientCheckpointingOf } from "../decisions.ts";
import { DEFAULT_MAX_NEW_TOKENS, decodeLoop } from "../decode-loop.ts";
import type {
  AppliedStep,
  ApplyStepOptions,
  Engine,
  EngineLoadSpec,
  EngineMemory,
  EngineMicroBatch,
  GenerateOptions,
  GenerateResult,
  LoadedModel,
  LossSum,
  SaveArtefactsOptions,
  TrainableState,
} from "../engine.ts";
import { learningRateRatio } from "../learning-rate-groups.ts";
import { buildNativeMethod, type NativeMethod, type TrainParam, trainedBaseTensors } from "./methods.ts";
import { NativeModel } from "./model.ts";
import { nativeMissingNeeds } from "./needs.ts";
import { AdamW, clipScale } from "./optim.ts";
import { quantizedBaseTensors } from "./quantized.ts";
import { saveNativeArtefacts } from "./save.ts";
import { growsVocabulary, growTables } from "./vocab.ts";
import { type BaseTensor, loadBaseTensors, randomBaseTensors, storedBytes, transpose } from "./weights.ts";

interface Loaded {
  plan: Plan;
  model: NativeModel;
  method: NativeMethod;
  optimizer: AdamW;
}

const toBoundary = (p: TrainParam, a: Float32Array) =>
  p.transposed ? transpose(a, ...p.transposed) : Float32Array.from(a);
const fromBoundary = (p: TrainParam, a: Float32Array) =>
  p.transposed ? transpose(a, p.transposed[1], p.transposed[0]) : a;

export class NativeEngine implements Engine {
  readonly name = "native";
  private loaded: Loaded | null = null;

  constructor(
    private readonly addon: NativeAddon,
    private readonly blas: string | undefined,
  ) {}

  describe(): string {
    const i = this.addon.info();
    return `native · ${i.threads} thread(s) · ${this.blas ?? "BLAS"}`;
  }

  private get l(): Loaded {
    if (!this.loaded) throw new Error("native engine: load() a model first");
    return this.loaded;
  }

  async load({ plan, model: source }: EngineLoadSpec): Promise<LoadedModel> {
    if (this.loaded) throw new Error("native engine: a model is already loaded");
    let cfg: ModelConfig;
    let base: Map<string, BaseTensor>;
    if ("dir" in source) {
      const dir = existsSync(source.dir) ? source.dir : (resolveHubModel(source.dir)?.dir ?? source.dir);
      cfg = await readHfConfig(dir);
      const fp32 = trainedBaseTensors(plan, cfg);
      base = await loadBaseTensors(dir, cfg, (n) => fp32.has(n), { nf4: quantizedBaseTensors(plan, cfg) });
    } else {
      cfg = { ...source.config };
      const fp32 = trainedBaseTensors(plan, cfg);
      if (tf.engine().backendName == null) {
        await import("@tensorflow/tfjs-backend-cpu");
        await tf.setBackend("cpu");
      }
      base = randomBaseTensors(cfg, source.seed, (n) => fp32.has(n));
    }
    // A plan made elsewhere may name native for a model it cannot compute: refuse rather than compute it wrong.
    const features = nativeMissingNeeds([...beyondLlama(cfg), ...decoderFeatures(cfg)]);
    if (features.length)
      throw new Error(`native engine: ${features.join(" and ")} not implemented; run this plan on tfjs`);
    let grown = new Map<string, Map<number, Float32Array>>();
    if (growsVocabulary(plan, cfg)) {
      let encode: ((text: string) => number[]) | null = null;
      if (newTokens(plan).some((t) => t.init === "describe") && plan.tokenizer.dir) {
        const { loadTokenizer } = await import("../../data/tokenizer/index.ts");
        const tok = await loadTokenizer(plan.tokenizer.dir);
        encode = (text) => tok.encode(text, { addSpecialTokens: false });
      }
      grown = growTables(base, cfg, plan, encode);
    }
    const method = buildNativeMethod(this.addon, plan, cfg, base, plan.seed, grown);
    const model = new NativeModel(this.addon, cfg, base, method.trainables);
    const optimizer = new AdamW(this.addon, method.params, {
      betas: plan.optimizer.betas,
      eps: plan.optimizer.eps,
      weightDecay: plan.optimizer.weightDecay,
      decays: (n) => method.decays(n),
      learningRateRatio: learningRateRatio(plan),
    });
    this.loaded = { plan, model, method, optimizer };
    return {
      trainable: method.params.map((p) => ({ name: p.name, shape: [...p.shape] })),
      vocabSize: cfg.vocabSize,
      maxPositionEmbeddings: cfg.maxPositionEmbeddings,
    };
  }

  async forwardBackward(batch: EngineMicroBatch, opts: { seed: number }): Promise<LossSum> {
    const { model, plan } = this.l;
    const targets = shiftLabels(batch, batch.labels);
    const neftune = plan.neftune;
    const r = model.pass(batch, targets, {
      grad: true,
      training: true,
      seed: opts.seed,
      recompute: gradientCheckpointingOf(plan),
      // NEFTune in training passes only, drawn as the tfjs engine draws it (same seed, same noise).
      ...(neftune
        ? { inputNoise: (T: number, d: number, S: number) => neftuneNoise(neftune.alpha, opts.seed, T, d, S) }
        : {}),
    });
    return { lossSum: r.lossSum, trainedTokens: r.trainedTokens };
  }

  async applyStep(opts: ApplyStepOptions): Promise<AppliedStep> {
    const { method, optimizer } = this.l;
    const { scale, norm } = clipScale(
      (g) => this.addon.sumSquares(g),
      method.params.map((p) => p.grad),
      opts.trainedTokens,
      opts.clipNorm,
    );
    // A non-finite norm would poison the weights and moments: nothing is applied (engine.ts AppliedStep).
    const applied = Number.isFinite(norm);
    if (applied) {
      optimizer.update(scale, opts.learningRate);
      this.l.model.trainablesChanged();
    }
    for (const p of method.params) p.grad.fill(0);
    return applied ? { gradNorm: norm } : { gradNorm: norm, applied };
  }

  async evalLoss(batch: EngineMicroBatch): Promise<LossSum> {
    const targets = shiftLabels(batch, batch.labels);
    return this.l.model.pass(batch, targets, { grad: false, training: false, seed: 0, recompute: false });
  }

  async generate(promptIds: readonly number[], opts: GenerateOptions = {}): Promise<GenerateResult> {
    const { model } = this.l;
    const limit = model.config.maxPositionEmbeddings;
    const max = opts.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS;
    const cache = model.newCache(Math.min(limit, promptIds.length + max));
    return decodeLoop(promptIds, opts, {
      // Prefix rows sit in the cache but not in the model's positions.
      fits: (n) => cache.length - cache.prefix + n <= limit && cache.length + n <= cache.capacity,
      next: (input) => model.nextLogits(input, cache),
    });
  }

  async readState(): Promise<TrainableState> {
    const { method, optimizer } = this.l;
    const m = new Map<string, Float32Array>();
    const v = new Map<string, Float32Array>();
    const weights = method.params.map((p, i) => {
      m.set(p.name, toBoundary(p, optimizer.m[i]!));
      v.set(p.name, toBoundary(p, optimizer.v[i]!));
      return { name: p.name, shape: [...p.shape], data: toBoundary(p, p.data) };
    });
    return { weights, optimizer: { step: optimizer.step, m, v } };
  }

  async writeState(state: TrainableState): Promise<void> {
    const { method, optimizer } = this.l;
    const byName = new Map(method.params.map((p, i) => [p.name, i]));
    for (const w of state.weights) {
      const i = byName.get(w.name);
      if (i === undefined) throw new Error(`"${w.name}" is not trained by this run`);
      const p = method.params[i]!;
      if (w.data.length !== p.data.length)
        throw new Error(`"${w.name}": ${w.data.length} values, expected ${p.data.length}`);
      p.data.set(fromBoundary(p, w.data));
    }
    method.params.forEach((p, i) => {
      for (const [which, src, dst] of [
        ["m", state.optimizer.m, optimizer.m],
        ["v", state.optimizer.v, optimizer.v],
      ] as const) {
        const data = src.get(p.name);
        if (!data || data.length !== p.data.length)
          throw new Error(`optimizer state: ${which} of "${p.name}" is missing or has the wrong size`);
        dst[i]!.set(fromBoundary(p, data));
      }
    });
    optimizer.step = state.optimizer.step;
    this.l.model.trainablesChanged();
  }

  saveArtefacts(opts: SaveArtefactsOptions): Promise<string[]> {
    const { plan, model, method } = this.l;
    return saveNativeArtefacts(model, plan, method, opts);
  }

  memory(): EngineMemory {
    if (!this.loaded) return { bytes: 0 };
    const { model, method, optimizer } = this.loaded;
    let weights = 0;
    for (const t of model.base.values()) weights += storedBytes(t.stored);
    let trainable = 0;
    for (const p of method.params) if (!model.base.has(p.name)) trainable += p.data.byteLength;
    let grads = 0;
    for (const p of method.params) grads += p.grad.byteLength;
    const moments = optimizer.bytes();
    const bytes = weights + trainable + grads + moments;
    return {
      bytes,
      detail: `weights ${weights} B, adapters ${trainable} B, gradients ${grads} B, moments ${moments} B`,
    };
  }

  dispose(): void {
    this.loaded = null;
  }
}

/** Loads the addon and makes an engine ($SFTKIT_THREADS wins over the plan's thread count). */
export async function createNativeEngine(plan: Plan): Promise<NativeEngine> {
  const { importNative } = await import("../../model/native/load.ts");
  const r = await importNative();
  if ("reason" in r) throw new Error(`the native engine is unavailable: ${r.reason}`);
  const threads = Number(process.env.SFTKIT_THREADS) || plan.backend.threads;
  if (threads > 0) r.addon.setThreads(threads);
  return new NativeEngine(r.addon, r.blas);
}
