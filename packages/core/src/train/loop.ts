// The training loop: plan -> data, model, method -> steps of accumulated micro-batches -> AdamW,
// with evaluations, samples, metrics, atomic checkpoints, exact resume, Ctrl-C, and the method's artefacts.

import { existsSync, readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import { resourceUsage } from "node:process";
import { type CompileResult, compileRecipe, writeJsonAtomic } from "../compile/compile.ts";
import type { Plan } from "../compile/plan-schema.ts";
import type { PreparedData } from "../data/pipeline.ts";
import { createEngine } from "../engines/create.ts";
import type { Engine, ModelSource } from "../engines/engine.ts";
import { baseModelOf } from "../export/base-model.ts";
import { displayRunResult } from "../report/display-run.ts";
import { writeRunReport } from "../report/write.ts";
import { type EpochBatches, epochBatches, microBatchAt, microBatchCount } from "./batches.ts";
import { type CheckpointState, retireCheckpoints, writeCheckpoint } from "./checkpoint.ts";
import { pruneCheckpoints } from "./checkpoint-retention.ts";
import { findIntactCheckpoint } from "./checkpoint-verify.ts";
import { TrainError } from "./errors.ts";
import { evalSamples, evaluate, type SampleAnswer, sampleAnswers } from "./evaluate.ts";
import { guardMicroBatchLoss, guardStep } from "./guards.ts";
import { MetricsLog, type StepMetrics } from "./metrics.ts";
import { refuseFreshOverExisting, removeStaleTemps } from "./output-folder.ts";
import { acquireOutputLock } from "./output-lock.ts";
import { evaluateProbes } from "./probes.ts";
import { createProgress, type ProgressMode } from "./progress.ts";
import { learningRateAt } from "./schedule.ts";
import { trainStep } from "./step.ts";

export interface TrainOptions {
  /** Called after every optimizer step. */
  onStep?: (m: StepMetrics) => void;
  /** Aborting writes a checkpoint after the current step and returns (`interrupted: true`). */
  signal?: AbortSignal;
  /** Stop once this many optimizer steps are done in all (the schedule still spans the plan's steps). */
  maxSteps?: number;
  /** Continue from the latest complete checkpoint in the output folder. */
  resume?: boolean;
  /** Start fresh over a folder that holds an earlier run's checkpoints (they move to checkpoints.previous*). */
  overwrite?: boolean;
  /** Ctrl-C writes a checkpoint and returns (default true; a second Ctrl-C exits at once). */
  handleSigint?: boolean;
  progress?: ProgressMode;
  /** Prompts answered greedily at each evaluation (default 2; 0 = none). */
  samples?: number;
  /** The compile result of the plan's recipe, when the caller has it (skips compiling again). */
  compiled?: CompileResult;
  /** The engine to run on (default: a new one of the plan's `engine.chosen`); the loop disposes it. */
  engine?: Engine;
}

export interface RunResult {
  /** Optimizer steps done in all (resumed ones included). */
  steps: number;
  epochs: number;
  /** Loss of the last step, and the eval loss at the start (null when resumed) and at the end. */
  loss: number | null;
  initialEvalLoss: number | null;
  evalLoss: number | null;
  /** Knowledge-probe recall at the last evaluation (null without probes). */
  probeRecall: number | null;
  /** Real tokens trained in this call, its training seconds and their ratio. */
  tokens: number;
  seconds: number;
  tokensPerSecond: number;
  /** Peak resident memory of the process (bytes). */
  peakRssBytes: number;
  interrupted: boolean;
  resumedFrom: string | null;
  outputDir: string;
  metricsFile: string;
  checkpoint: string | null;
  /** Files the method wrote (adapter/, model/); empty when interrupted. */
  artefacts: string[];
  samples: SampleAnswer[];
}

/** Seed of one micro-batch's dropout: a function of the run's seed and the data position only, so resume repeats it. */
export function dropoutSeed(seed: number, step: number, micro: number): number {
  return (Math.imul(seed + 1, 1000003) + Math.imul(step, 1009) + micro) >>> 0;
}

async function prepare(plan: Plan, compiled: CompileResult | undefined): Promise<CompileResult> {
  if (compiled) return compiled;
  // A recipe defined in a notebook has no file: its parsed form, written beside the plan, stands in.
  const source = plan.recipe.file ?? join(plan.output.dir, "recipe.resolved.json");
  const where = plan.recipe.file ?? "the recipe";
  let input: string | object = source;
  if (!plan.recipe.file) {
    if (!existsSync(source))
      throw new TrainError(`${source} is missing: compile the recipe with writing on, or pass \`compiled\``);
    input = JSON.parse(readFileSync(source, "utf8")) as object;
  }
  const result = await compileRecipe(input, { write: false });
  if (!result.plan) {
    const first = result.diagnostics.find((d) => d.severity === "error");
    throw new TrainError(`${where} no longer compiles${first ? `: ${first.message}` : ""}`);
  }
  if (result.plan.recipe.hash !== plan.recipe.hash)
    throw new TrainError(`${where} changed since this plan was made; compile it again`);
  return result;
}

function modelSource(plan: Plan, compiled: CompileResult): ModelSource {
  const m = compiled.resolved?.model;
  if (!m) throw new TrainError("the recipe's model did not resolve");
  if (m.dir) return { dir: m.dir };
  return { config: m.config, seed: plan.seed };
}

export async function train(plan: Plan, opts: TrainOptions = {}): Promise<RunResult> {
  // One run per output folder (train/output-lock.ts), taken before anything is read or written.
  const release = acquireOutputLock(plan.output.dir);
  try {
    await removeStaleTemps(plan.output.dir);
    return await trainLocked(plan, opts);
  } finally {
    release();
  }
}

async function trainLocked(plan: Plan, opts: TrainOptions): Promise<RunResult> {
  const compiled = await prepare(plan, opts.compiled);
  await refuseFreshOverExisting(plan.output.dir, opts);
  const prepared: PreparedData | null = compiled.data?.prepared ?? null;
  if (!prepared) throw new TrainError("the recipe's data could not be prepared");
  const total = plan.optimizer.schedule.totalSteps;
  if (total === null) throw new TrainError("the plan has no step count (its data was not read)");
  const stopAt = Math.min(total, opts.maxSteps ?? total);

  const source = modelSource(plan, compiled);
  const outDir = plan.output.dir;
  await mkdir(outDir, { recursive: true });
  // The plan actually run sits beside its results (compile writes it too, unless told not to).
  await writeJsonAtomic(join(outDir, "plan.json"), plan);
  const metrics = new MetricsLog(join(outDir, "metrics.jsonl"));
  const progress = createProgress(opts.progress ?? "auto");
  // Last before the try: nothing between here and its finally can throw.
  const engine = opts.engine ?? (await createEngine(plan));

  // Ctrl-C: finish the step, checkpoint, return. A second Ctrl-C exits at once.
  const local = new AbortController();
  const onAbort = () => local.abort();
  opts.signal?.addEventListener("abort", onAbort);
  if (opts.signal?.aborted) local.abort();
  let sigints = 0;
  const onSigint = () => {
    if (++sigints > 1) process.exit(130);
    progress.log("interrupted: writing a checkpoint after this step (Ctrl-C again to quit now)");
    local.abort();
  };
  if (opts.handleSigint !== false) process.on("SIGINT", onSigint);

  try {
    const loaded = await engine.load({ plan, model: source });

    const pos = { step: 0, epoch: 0, micro: 0, tokens: 0, seconds: 0 };
    let resumedFrom: string | null = null;
    if (opts.resume) {
      // The newest checkpoint that passes its checksums and holds finite values (train/checkpoint-verify.ts).
      const intact = await findIntactCheckpoint(outDir, loaded.trainable, (m) => progress.log(m));
      resumedFrom = intact?.dir ?? null;
      if (!intact) progress.log(`no checkpoint in ${outDir}/checkpoints: starting from step 0`);
      else {
        const { state: s, trainable } = intact;
        await engine.writeState(trainable);
        if (s.recipeHash !== plan.recipe.hash)
          throw new TrainError(`${resumedFrom} was written by another version of the recipe`);
        if (s.method !== plan.method.kind)
          throw new TrainError(
            `${resumedFrom} was written by method ${s.method}, this plan uses ${plan.method.kind}`,
          );
        Object.assign(pos, {
          step: s.step,
          epoch: s.epoch,
          micro: s.microBatch,
          tokens: s.tokens,
          seconds: s.seconds,
        });
        progress.log(`resuming from ${resumedFrom} (step ${s.step})`);
        if (s.data && s.data.tokensPerEpoch !== plan.data.tokensPerEpoch)
          progress.log(
            `warning: the data changed since ${resumedFrom} (${s.data.tokensPerEpoch} tokens per epoch then, ${plan.data.tokensPerEpoch} now); the loss curve will differ`,
          );
      }
    }
    if (!resumedFrom) {
      const previous = await retireCheckpoints(outDir);
      if (previous) progress.log(`a fresh run: the earlier run's checkpoints are now in ${previous}`);
    }
    // A fresh run starts metrics.jsonl over; a resumed one drops what came after its checkpoint.
    // A resume at the last step evaluates it again: its earlier evaluation goes, so each is logged once.
    await metrics.truncateAfter(resumedFrom ? pos.step : -1, { redoEvaluation: pos.step >= stopAt });

    const padId = plan.tokenizer.pad?.id ?? plan.tokenizer.eos?.id ?? 0;
    const accum = plan.batching.gradientAccumulation;
    const evalSet = evalSamples(plan, prepared);
    const tokenizer = compiled.resolved?.tokenizer ?? null;
    const stopIds = [
      plan.tokenizer.eos?.id,
      plan.template.endOfTurn ? tokenizer?.tokenToId(plan.template.endOfTurn) : undefined,
    ].filter((x): x is number => typeof x === "number");
    const sampleCount = tokenizer ? (opts.samples ?? 2) : 0;
    const evalEvery = plan.eval.every ?? plan.optimizer.stepsPerEpoch;
    let lastEval: number | null = null;
    let lastRecall: number | null = null;
    let initialEval: number | null = null;
    let samples: SampleAnswer[] = [];

    const probes = compiled.resolved?.probes ?? [];
    const template = compiled.resolved?.template?.text ?? null;
    const runEval = async (step: number) => {
      const t0 = performance.now();
      const r = await evaluate(engine, evalSet, plan, padId);
      // Knowledge probes: the share of taught facts answered exactly (greedy), when the recipe has them.
      let recall: number | undefined;
      if (probes.length && tokenizer && template) {
        const pr = await evaluateProbes(engine, probes, { tokenizer, template, stopIds });
        recall = lastRecall = pr.recall;
        for (const x of pr.results.slice(0, sampleCount))
          progress.log(
            `  probe: ${x.token} -> ${JSON.stringify(x.output)} (taught ${JSON.stringify(x.answer)})`,
          );
      }
      const extra = recall === undefined ? {} : { probeRecall: recall };
      if (r) {
        lastEval = r.loss;
        metrics.append({
          step,
          evalLoss: r.loss,
          evalTokens: r.tokens,
          seconds: (performance.now() - t0) / 1000,
          ...extra,
        });
      } else if (recall !== undefined) metrics.append({ step, probeRecall: recall });
      const parts = [
        r ? `loss ${r.loss.toFixed(4)} over ${r.tokens} tokens` : null,
        recall !== undefined ? `probe recall ${(recall * 100).toFixed(0)}% of ${probes.length}` : null,
      ].filter(Boolean);
      if (parts.length) progress.log(`eval step ${step}: ${parts.join(", ")}`);
      if (sampleCount > 0 && tokenizer) {
        const prompts = evalSet.length ? evalSet : epochBatches(plan, prepared, 0).samples;
        samples = await sampleAnswers(engine, prompts, {
          count: sampleCount,
          stopIds,
          decode: (ids) => tokenizer.decode(ids),
        });
        for (const s of samples) {
          metrics.append({ step, sample: { step, ...s } });
          progress.log(`  sample: ${JSON.stringify(s.prompt)} -> ${JSON.stringify(s.completion)}`);
        }
      }
      return r?.loss ?? null;
    };

    const checkpoint = async () => {
      const state: CheckpointState = {
        version: 1,
        step: pos.step,
        epoch: pos.epoch,
        microBatch: pos.micro,
        seed: plan.seed,
        recipeHash: plan.recipe.hash,
        method: plan.method.kind,
        tokens: pos.tokens,
        seconds: pos.seconds,
        data: { samplesPerEpoch: plan.data.samplesPerEpoch, tokensPerEpoch: plan.data.tokensPerEpoch },
      };
      const dir = await writeCheckpoint(outDir, await engine.readState(), state);
      await pruneCheckpoints(outDir, plan.checkpoints.keep, metrics.path);
      lastCheckpointStep = pos.step;
      return dir;
    };
    let lastCheckpointStep = resumedFrom ? pos.step : -1;
    let lastCheckpoint: string | null = resumedFrom;

    if (!resumedFrom && pos.step < stopAt) initialEval = await runEval(0);

    let epoch: EpochBatches | null = null;
    const epochAt = (e: number) => {
      if (epoch === null || epochIndex !== e) {
        epoch = epochBatches(plan, prepared, e);
        epochIndex = e;
        if (microBatchCount(epoch) === 0) throw new TrainError(`epoch ${e} has no micro-batches`);
      }
      return epoch;
    };
    let epochIndex = -1;
    let lastLoss: number | null = null;
    let lastEpoch = pos.epoch;
    let runTokens = 0;
    let runSeconds = 0;
    let rssPeak = process.memoryUsage().rss;
    const schedule = {
      kind: plan.optimizer.schedule.kind,
      warmupSteps: plan.optimizer.schedule.warmupSteps ?? 0,
      totalSteps: total,
      minLearningRateRatio: plan.optimizer.schedule.minLearningRateRatio,
    };
    progress.start(stopAt, pos.step);

    while (pos.step < stopAt && !local.signal.aborted) {
      const t0 = performance.now();
      const ep = epochAt(pos.epoch);
      const count = microBatchCount(ep);
      const end = Math.min(count, pos.micro + accum);
      const lr = learningRateAt(pos.step, plan.optimizer.learningRate, schedule);
      const micro = function* () {
        for (let k = pos.micro; k < end; k++) yield microBatchAt(ep, k, padId);
      };
      const step = pos.step;
      const first = pos.micro;
      // Numerical guards (train/guards.ts): a non-finite loss or norm throws before anything is saved.
      const place = { step: step + 1, epoch: ep, epochIndex: pos.epoch, lastCheckpoint };
      const { norm, loss, trainedTokens, tokens } = await trainStep(engine, micro(), {
        seed: (k) => dropoutSeed(plan.seed, step, k),
        learningRate: lr,
        clipNorm: plan.optimizer.clipNorm,
        onMicroBatch: (k, lossSum) => {
          rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
          guardMicroBatchLoss(place, first + k, lossSum);
        },
      });
      guardStep(place, { first, end }, { loss, norm });

      pos.step++;
      pos.micro = end;
      const epochDone = end >= count;
      if (epochDone) {
        pos.epoch++;
        pos.micro = 0;
      }
      const seconds = (performance.now() - t0) / 1000;
      pos.tokens += tokens;
      pos.seconds += seconds;
      runTokens += tokens;
      runSeconds += seconds;
      lastLoss = loss;
      const m: StepMetrics = {
        step: pos.step,
        epoch: pos.epoch + pos.micro / count,
        loss: lastLoss,
        lr,
        tokens,
        trainedTokens,
        seconds,
        gradNorm: norm,
      };
      lastEpoch = m.epoch;
      metrics.append(m);
      progress.step(m, runSeconds > 0 ? runTokens / runSeconds : 0);
      opts.onStep?.(m);

      // tfjs work resolves in microtasks only: let signals (Ctrl-C) and timers in once per step.
      await new Promise((resolve) => setImmediate(resolve));
      const last = pos.step >= stopAt;
      if (!last && evalEvery && pos.step % evalEvery === 0) await runEval(pos.step);
      const every = plan.checkpoints.every;
      if (!last && every && pos.step % every === 0) lastCheckpoint = await checkpoint();
    }

    const interrupted = local.signal.aborted && pos.step < stopAt;
    let artefacts: string[] = [];
    if (!interrupted) await runEval(pos.step);
    if (lastCheckpointStep !== pos.step) lastCheckpoint = await checkpoint();
    if (interrupted) progress.log(`stopped at step ${pos.step}; checkpoint ${lastCheckpoint}`);
    else {
      const resolved = compiled.resolved;
      const written = await engine.saveArtefacts({
        outDir,
        save: plan.output.save,
        tokenizerDir: resolved?.tokenizerDir ?? null,
        chatTemplate: resolved?.template?.text ?? null,
        baseModel: baseModelOf(plan.model.source, resolved?.recipe.output.baseModelName),
      });
      artefacts = written.map((f) => (isAbsolute(f) ? f : join(outDir, f)));
    }
    // Curves and report.html beside metrics.jsonl, for stopped runs too; a failure there never fails the run.
    try {
      const report = await writeRunReport(outDir);
      if (!interrupted)
        artefacts.push(
          ...report.files
            .filter((f) => f.endsWith("report.html"))
            .map((f) => (isAbsolute(f) ? f : join(outDir, f))),
        );
      for (const w of report.warnings) progress.log(`report: ${w}`);
    } catch (e) {
      progress.log(`report not written: ${(e as Error).message}`);
    }
    rssPeak = Math.max(rssPeak, resourceUsage().maxRSS * 1024);
    return displayRunResult({
      steps: pos.step,
      epochs: lastEpoch,
      loss: lastLoss,
      initialEvalLoss: initialEval,
      evalLoss: lastEval,
      probeRecall: lastRecall,
      tokens: runTokens,
      seconds: runSeconds,
      tokensPerSecond: runSeconds > 0 ? runTokens / runSeconds : 0,
      peakRssBytes: rssPeak,
      interrupted,
      resumedFrom,
      outputDir: outDir,
      metricsFile: metrics.path,
      checkpoint: lastCheckpoint,
      artefacts,
      samples,
    });
  } finally {
    progress.stop();
    process.off("SIGINT", onSigint);
    opts.signal?.removeEventListener("abort", onAbort);
    engine.dispose();
  }
}
