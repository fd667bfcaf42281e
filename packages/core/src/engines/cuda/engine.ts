// The CUDA engine: the plan's model and method resident in one backend's buffers (the GPU through
// @sftkit/cuda's device ops, or the host twin that runs the same kernels' math on the CPU so that CI
// checks this orchestration), the step composed in model.ts, AdamW on the backend. The method's
// tensors, their initialisation, checkpoint layout and artefact writers are the native engine's.
import { existsSync } from "node:fs";
import * as tf from "@tensorflow/tfjs-core";
import type { Plan } from "../../compile/plan-schema.ts";
import { newTokens } from "../../methods/vocab.ts";
import { neftuneNoise } from "../../model/adapters/neftune.ts";
import { type ModelConfig, readHfConfig } from "../../model/config.ts";
import { decoderFeatures } from "../../model/families/index.ts";
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
import { buildNativeMethod, type NativeMethod, trainedBaseTensors } from "../native/methods.ts";
import { NativeModel } from "../native/model.ts";
import { clipScale } from "../native/optim.ts";
import { saveNativeArtefacts } from "../native/save.ts";
import { growsVocabulary, growTables } from "../native/vocab.ts";
import {
  type BaseTensor,
  loadBaseTensors,
  randomBaseTensors,
  type Stored,
  toF32,
  transpose,
} from "../native/weights.ts";
import { checkMicroBatch, reserveArena } from "./arena.ts";
import { cudaMethodGaps } from "./gaps.ts";
import { hostGemm } from "./host-gemm.ts";
import { type CudaAvailability, cudaAvailability, cudaPackage } from "./load.ts";
import { CudaModel, type DevParam } from "./model.ts";
import type { CudaOps } from "./ops.ts";

interface Loaded {
  plan: Plan;
  cfg: ModelConfig;
  base: Map<string, BaseTensor>;
  method: NativeMethod;
  model: CudaModel;
  step: number;
}

const toBoundary = (d: DevParam, a: Float32Array) =>
  d.param.transposed ? transpose(a, ...d.param.transposed) : a;
const fromBoundary = (d: DevParam, a: Float32Array) =>
  d.param.transposed ? transpose(a, d.param.transposed[1], d.param.transposed[0]) : a;

/** The rows `ids` of a (non-NF4) table as float32: the initial values of trainable token rows. */
function hostEmbeddingGather(w: Stored, ids: Int32Array, out: Float32Array, _V: number, d: number): void {
  if (w.dtype === "nf4") throw new Error("cuda engine: token rows of an NF4 table");
  ids.forEach((id, i) => {
    out.set(toF32({ ...w, data: w.data.subarray(id * d, (id + 1) * d) } as Stored), i * d);
  });
}

/**
 * The native engine's method builder, prefix MLP and artefact writers take its addon for a few small
 * host-side products (prefix tuning's reparameterization, LoRA deltas, token rows' initial values): a
 * plain GEMM and a row gather serve them. Anything else reaching it is a bug, said so.
 */
const hostGemmAddon = new Proxy({} as NativeAddon, {
  get: (_target, name) =>
    name === "sgemmEx"
      ? hostGemm
      : name === "embeddingGather"
        ? hostEmbeddingGather
        : () => {
            throw new Error(`cuda engine: the native addon's ${String(name)} is not available here`);
          },
});

export class CudaEngine implements Engine {
  readonly name = "cuda";
  private loaded: Loaded | null = null;
  /** Bytes of the arena reserved at load (0: none). */
  private reserved = 0;

  constructor(readonly ops: CudaOps) {}

  describe(): string {
    return `cuda · ${this.ops.describe()}`;
  }

  private get l(): Loaded {
    if (!this.loaded) throw new Error("cuda engine: load() a model first");
    return this.loaded;
  }

  async load({ plan, model: source }: EngineLoadSpec): Promise<LoadedModel> {
    if (this.loaded) throw new Error("cuda engine: a model is already loaded");
    const gaps = cudaMethodGaps(plan.method);
    if (gaps.length)
      throw new Error(
        `the cuda engine does not implement ${gaps.join(", ")}; run this plan on native or tfjs`,
      );
    // The plan's bytes reserved first (before reading the weights): a run that cannot fit fails here.
    this.reserved = reserveArena(this.ops, plan);
    let cfg: ModelConfig;
    let base: Map<string, BaseTensor>;
    if ("dir" in source) {
      const dir = existsSync(source.dir) ? source.dir : (resolveHubModel(source.dir)?.dir ?? source.dir);
      cfg = await readHfConfig(dir);
      const fp32 = trainedBaseTensors(plan, cfg);
      base = await loadBaseTensors(dir, cfg, (n) => fp32.has(n));
    } else {
      cfg = { ...source.config };
      const fp32 = trainedBaseTensors(plan, cfg);
      if (tf.engine().backendName == null) {
        await import("@tensorflow/tfjs-backend-cpu");
        await tf.setBackend("cpu");
      }
      base = randomBaseTensors(cfg, source.seed, (n) => fp32.has(n));
    }
    const features = decoderFeatures(cfg);
    if (features.length)
      throw new Error(`cuda engine: ${features.join(" and ")} not implemented; run this plan on tfjs`);
    let grown = new Map<string, Map<number, Float32Array>>();
    if (growsVocabulary(plan, cfg)) {
      if (newTokens(plan).some((t) => t.init === "describe"))
        throw new Error(
          "cuda engine: added tokens initialised from a description are not implemented; use native",
        );
      grown = growTables(base, cfg, plan, null);
    }
    const method = buildNativeMethod(hostGemmAddon, plan, cfg, base, plan.seed, grown);
    const model = new CudaModel(this.ops, cfg, base, method);
    this.loaded = { plan, cfg, base, method, model, step: 0 };
    return {
      trainable: method.params.map((p) => ({ name: p.name, shape: [...p.shape] })),
      vocabSize: cfg.vocabSize,
      maxPositionEmbeddings: cfg.maxPositionEmbeddings,
    };
  }

  async forwardBackward(batch: EngineMicroBatch, opts: { seed: number }): Promise<LossSum> {
    const { model, plan, cfg } = this.l;
    checkMicroBatch(plan, batch);
    const targets = shiftLabels(batch, batch.labels);
    const T = batch.batch * batch.seqLen;
    // NEFTune in training passes only, drawn as the tfjs engine draws it (same seed, same noise).
    const noise = plan.neftune
      ? neftuneNoise(plan.neftune.alpha, opts.seed, T, cfg.hiddenSize, batch.seqLen)
      : undefined;
    return model.pass(batch, targets, {
      grad: true,
      recompute: gradientCheckpointingOf(plan),
      noise,
      seed: opts.seed,
    });
  }

  async applyStep(opts: ApplyStepOptions): Promise<AppliedStep> {
    const l = this.l;
    const ops = this.ops;
    const params = l.model.params;
    // clipScale asks for each gradient's sum of squares: computed on the backend (read back together, one
    // wait for the stream), looked up by a stand-in.
    const sums = ops.sumSquaresMany(params.map((p) => p.grad));
    const squares = new Map<Float32Array, number>(params.map((_, i) => [new Float32Array(0), sums[i]!]));
    const { scale, norm } = clipScale(
      (g) => squares.get(g)!,
      [...squares.keys()],
      opts.trainedTokens,
      opts.clipNorm,
    );
    // A non-finite norm would poison the weights and moments: nothing is applied (engine.ts AppliedStep).
    if (!Number.isFinite(norm)) {
      for (const p of params) ops.zero(p.grad);
      return { gradNorm: norm, applied: false };
    }
    const o = l.plan.optimizer;
    const [b1, b2] = o.betas;
    const t = ++l.step;
    const c1 = 1 - b1 ** t;
    const c2 = 1 - b2 ** t;
    const ratio = learningRateRatio(l.plan);
    for (const p of params) {
      const name = p.param.name;
      const wd = o.weightDecay > 0 && l.method.decays(name) ? o.weightDecay : 0;
      const lr = opts.learningRate * (ratio?.(name) ?? 1);
      ops.adamw(p.data, p.grad, p.m, p.v, lr, b1, b2, o.eps, wd, c1, c2, scale);
      ops.zero(p.grad);
    }
    l.model.refreshShadows();
    return { gradNorm: norm };
  }

  async evalLoss(batch: EngineMicroBatch): Promise<LossSum> {
    checkMicroBatch(this.l.plan, batch);
    const targets = shiftLabels(batch, batch.labels);
    return this.l.model.pass(batch, targets, { grad: false, recompute: false });
  }

  async generate(promptIds: readonly number[], opts: GenerateOptions = {}): Promise<GenerateResult> {
    const { model, cfg } = this.l;
    const limit = cfg.maxPositionEmbeddings;
    const max = opts.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS;
    const cache = model.newCache(Math.min(limit, promptIds.length + max));
    try {
      return await decodeLoop(promptIds, opts, {
        // Prefix rows sit in the cache but not in the model's positions.
        fits: (n) => cache.length - cache.prefix + n <= limit && cache.length + n <= cache.capacity,
        next: (input) => model.lastLogits(input, cache),
      });
    } finally {
      model.freeCache(cache);
    }
  }

  async readState(): Promise<TrainableState> {
    const { model, step } = this.l;
    const m = new Map<string, Float32Array>();
    const v = new Map<string, Float32Array>();
    const weights = model.params.map((d) => {
      const get = (b: typeof d.data) => toBoundary(d, this.ops.download(b) as Float32Array);
      m.set(d.param.name, get(d.m));
      v.set(d.param.name, get(d.v));
      return { name: d.param.name, shape: [...d.param.shape], data: get(d.data) };
    });
    return { weights, optimizer: { step, m, v } };
  }

  async writeState(state: TrainableState): Promise<void> {
    const l = this.l;
    const byName = new Map(l.model.params.map((d) => [d.param.name, d]));
    for (const w of state.weights) {
      const d = byName.get(w.name);
      if (!d) throw new Error(`"${w.name}" is not trained by this run`);
      if (w.data.length !== d.data.n)
        throw new Error(`"${w.name}": ${w.data.length} values, expected ${d.data.n}`);
      this.ops.upload(d.data, fromBoundary(d, w.data));
    }
    for (const d of l.model.params)
      for (const [which, src, dst] of [
        ["m", state.optimizer.m, d.m],
        ["v", state.optimizer.v, d.v],
      ] as const) {
        const data = src.get(d.param.name);
        if (!data || data.length !== d.data.n)
          throw new Error(`optimizer state: ${which} of "${d.param.name}" is missing or has the wrong size`);
        this.ops.upload(dst, fromBoundary(d, data));
      }
    l.step = state.optimizer.step;
    l.model.refreshShadows();
  }

  async saveArtefacts(opts: SaveArtefactsOptions): Promise<string[]> {
    const { plan, cfg, base, method, model } = this.l;
    model.syncToHost();
    return saveNativeArtefacts(
      new NativeModel(hostGemmAddon, cfg, base, method.trainables),
      plan,
      method,
      opts,
    );
  }

  memory(): EngineMemory {
    const m = this.ops.memory();
    const a = this.reserved > 0 ? this.ops.arena?.() : undefined;
    const arena = a
      ? `; arena ${a.reservedBytes} B reserved (the plan's), ${a.arenaBytes} B of it in use, ${a.outsideBytes} B outside it`
      : "";
    return {
      bytes: m.bytes,
      peakBytes: m.peakBytes,
      detail: m.detail + arena,
      ...(this.reserved > 0 ? { reservedBytes: this.reserved } : {}),
    };
  }

  dispose(): void {
    this.loaded?.model.dispose();
    this.loaded = null;
    // The arena goes back to the driver once its last buffer is freed.
    if (this.reserved > 0) this.ops.reserve?.(0);
    this.reserved = 0;
  }
}

export type CudaBackend = "device" | "host";

/** The backend $SFTKIT_CUDA_HOST=1 asks for (tests), else the GPU. */
export function cudaBackendOf(env: NodeJS.ProcessEnv = process.env): CudaBackend {
  return env.SFTKIT_CUDA_HOST === "1" ? "host" : "device";
}

export async function createCudaEngine(
  _plan: Plan,
  backend: CudaBackend = cudaBackendOf(),
  availability: () => CudaAvailability = () => cudaAvailability(),
): Promise<CudaEngine> {
  const p = cudaPackage();
  if ("reason" in p) throw new Error(`cuda engine unavailable: ${p.reason}`);
  if (backend === "host") {
    const h = p.pkg.loadCudaHost();
    if ("reason" in h) throw new Error(`cuda engine (host backend) unavailable: ${h.reason}`);
    const { HostOps } = await import("./host-ops.ts");
    return new CudaEngine(new HostOps(h.addon as never));
  }
  const a = availability();
  if (!a.available) throw new Error(`cuda engine unavailable: ${a.reason}`);
  const { deviceOps } = await import("./device-ops.ts");
  return new CudaEngine(deviceOps(p.pkg, a.reason));
}
