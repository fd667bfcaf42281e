// The tfjs engine: TensorFlow.js (`wasm` with our kernels and the optional native tier, `cpu`, or the
// optional `tensorflow` package) behind the Engine interface. Tensors never leave this folder.
import * as tf from "@tensorflow/tfjs-core";
import type { Plan } from "../../compile/plan-schema.ts";
import { neftuneHooks } from "../../model/adapters/neftune.ts";
import { combineHooks } from "../../model/adapters/piece.ts";
import { type BackendChoice, type BackendInfo, initBackend, wasmHeapBytes } from "../../model/backend.ts";
import { fusedCrossEntropy } from "../../model/kernels.ts";
import { loadModel, type Model, randomModel } from "../../model/llama.ts";
import { lossAndGrads, shiftLabels } from "../../model/train-step.ts";
import { gradientCheckpointingOf } from "../decisions.ts";
import type {
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
import { AdamW } from "./adamw.ts";
import { generate } from "./generate.ts";
import { accumulate, finishGradients } from "./grads.ts";
import type { MethodRuntime } from "./method-runtime.ts";
import { defaultMethods, type Methods } from "./methods.ts";

export interface TfjsEngineOptions {
  /** The tuning methods (default: src/methods). */
  methods?: Methods;
}

interface Loaded {
  model: Model;
  method: MethodRuntime;
  optimizer: AdamW;
  names: string[];
  vars: tf.Variable[];
  plan: Plan;
}

export class TfjsEngine implements Engine {
  readonly name = "tfjs";
  private loaded: Loaded | null = null;
  private model: Model | null = null;
  private summed: tf.Tensor[] | null = null;
  private readonly methods: Methods;

  constructor(
    readonly backend: BackendInfo,
    opts: TfjsEngineOptions = {},
  ) {
    this.methods = opts.methods ?? defaultMethods;
  }

  describe(): string {
    const b = this.backend;
    return `tfjs ${b.backend} · ${b.threads} thread(s)${b.simd ? " · SIMD" : ""}`;
  }

  private get l(): Loaded {
    if (!this.loaded) throw new Error("tfjs engine: load() a model first");
    return this.loaded;
  }

  async load({ plan, model: source }: EngineLoadSpec): Promise<LoadedModel> {
    if (this.loaded || this.model) throw new Error("tfjs engine: a model is already loaded");
    const model =
      "dir" in source ? await loadModel(source.dir) : randomModel(source.config, { seed: source.seed });
    this.model = model;
    if (this.methods.growVocabulary && plan.tokenizer.added.length > 0)
      await this.methods.growVocabulary(model, plan);
    if (plan.model.vocab.total > model.config.vocabSize)
      throw new Error(
        `the plan adds ${plan.model.vocab.total - model.config.vocabSize} token(s) but the model's vocabulary was not grown`,
      );
    const method = this.methods.buildMethod(model, plan, plan.seed);
    const names = [...method.trainable.keys()];
    const vars = names.map((n) => method.trainable.get(n)!);
    if (vars.length === 0) {
      method.dispose();
      throw new Error(`method ${plan.method.kind} trains no variables`);
    }
    const optimizer = new AdamW(method.trainable, {
      betas: plan.optimizer.betas,
      eps: plan.optimizer.eps,
      weightDecay: plan.optimizer.weightDecay,
      decays: (n) => method.decays(n),
      learningRateRatio: learningRateRatio(plan),
    });
    this.loaded = { model, method, optimizer, names, vars, plan };
    return {
      trainable: names.map((name, i) => ({ name, shape: [...vars[i]!.shape] })),
      vocabSize: model.config.vocabSize,
      maxPositionEmbeddings: model.config.maxPositionEmbeddings,
    };
  }

  async forwardBackward(batch: EngineMicroBatch, opts: { seed: number }): Promise<LossSum> {
    const { model, method, vars, plan } = this.l;
    const fwd = method.forward(true, opts.seed);
    // NEFTune's noise in training passes only (evaluation and generation take the method's hooks alone).
    const hooks = plan.neftune
      ? combineHooks([fwd.hooks ?? {}, neftuneHooks(plan.neftune.alpha, opts.seed)])
      : fwd.hooks;
    const r = await lossAndGrads(model, { batch, labels: batch.labels }, vars, {
      ...(hooks ? { hooks } : {}),
      // The plan's decision, not the method's copy of the recipe's flag (a GPU plan may turn it on).
      recompute: gradientCheckpointingOf(plan),
    });
    this.summed = accumulate(this.summed, r.grads);
    return { lossSum: r.loss, trainedTokens: r.tokens };
  }

  async applyStep(opts: { learningRate: number; clipNorm: number; trainedTokens: number }) {
    const { method, optimizer, names } = this.l;
    if (!this.summed) throw new Error("tfjs engine: applyStep before any forwardBackward");
    const summed = this.summed;
    this.summed = null;
    const { grads, norm } = await finishGradients(summed, opts.trainedTokens, opts.clipNorm);
    // A non-finite norm would poison the weights and moments: nothing is applied (engine.ts AppliedStep).
    if (!Number.isFinite(norm)) {
      for (const g of grads) g.dispose();
      return { gradNorm: norm, applied: false };
    }
    optimizer.update(new Map(names.map((n, i) => [n, grads[i]!])), opts.learningRate);
    for (const g of grads) g.dispose();
    method.afterStep?.();
    return { gradNorm: norm };
  }

  async evalLoss(batch: EngineMicroBatch): Promise<LossSum> {
    const { model, method } = this.l;
    const fwd = method.forward(false, 0);
    const targets = shiftLabels(batch, batch.labels);
    let trainedTokens = 0;
    for (const t of targets) if (t !== -100) trainedTokens++;
    if (trainedTokens === 0) return { lossSum: 0, trainedTokens };
    const t = tf.tidy(() =>
      fusedCrossEntropy(model.hidden(batch, { hooks: fwd.hooks }), model.lmHeadT(fwd.hooks), targets, {
        grad: false,
        softcap: model.config.finalLogitSoftcap ?? null,
      }),
    );
    const lossSum = (await t.data())[0]!;
    t.dispose();
    return { lossSum, trainedTokens };
  }

  generate(promptIds: readonly number[], opts: GenerateOptions = {}): Promise<GenerateResult> {
    const { model, method } = this.l;
    const hooks = method.forward(false, 0).hooks;
    return generate(model, promptIds, { ...opts, ...(hooks ? { hooks } : {}) });
  }

  async readState(): Promise<TrainableState> {
    const { optimizer, names, vars } = this.l;
    const weights = [];
    for (const [i, v] of vars.entries())
      weights.push({ name: names[i]!, shape: [...v.shape], data: (await v.data()) as Float32Array });
    const { step, m, v } = await optimizer.state();
    return { weights, optimizer: { step, m, v } };
  }

  async writeState(state: TrainableState): Promise<void> {
    const { optimizer, method } = this.l;
    for (const w of state.weights) {
      const v = method.trainable.get(w.name);
      if (!v) throw new Error(`"${w.name}" is not trained by this run`);
      if (w.data.length !== v.size)
        throw new Error(`"${w.name}": ${w.data.length} values, expected ${v.size}`);
      const t = tf.tensor(w.data, v.shape);
      v.assign(t);
      t.dispose();
    }
    optimizer.load(state.optimizer);
  }

  saveArtefacts(opts: SaveArtefactsOptions): Promise<string[]> {
    return this.l.method.save(opts);
  }

  memory(): EngineMemory {
    const m = tf.memory();
    const heap = wasmHeapBytes();
    if (heap === null) return { bytes: m.numBytes, detail: `${m.numTensors} tensors` };
    return {
      bytes: m.numBytes,
      highWaterBytes: heap,
      detail: `${m.numTensors} tensors; wasm heap ${heap} B`,
    };
  }

  dispose(): void {
    for (const g of this.summed ?? []) g.dispose();
    this.summed = null;
    this.loaded?.optimizer.dispose();
    this.loaded?.method.dispose();
    this.model?.dispose();
    this.loaded = null;
    this.model = null;
  }
}

/** Initialises the plan's tfjs backend ($SFTKIT_THREADS wins over the plan's thread count) and makes an engine. */
export async function createTfjsEngine(plan: Plan, opts: TfjsEngineOptions = {}): Promise<TfjsEngine> {
  const backend = await initBackend({
    backend: plan.backend.chosen as BackendChoice,
    ...(process.env.SFTKIT_THREADS ? {} : { threads: plan.backend.threads }),
  });
  return new TfjsEngine(backend, opts);
}
