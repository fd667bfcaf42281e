// The training loop: plan -> data, model, method -> steps of accumulated micro-batches -> AdamW,
// with evaluations, samples, metrics, atomic checkpoints, exact resume, Ctrl-C, and the method's artefacts.
// It runs from the plan alone (and the data cache it names): the recipe is never read again.

import { mkdir } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import { resourceUsage } from "node:process";
import { type CompileResult, writeJsonAtomic } from "../compile/compile.ts";
import type { Plan } from "../compile/plan-schema.ts";
import { createEngine } from "../engines/create.ts";
import type { Engine, LoadedModel } from "../engines/engine.ts";
import { baseModelOf } from "../export/base-model.ts";
import { NonFiniteTensorError } from "../model/safetensors.ts";
import { displayRunResult } from "../report/display-run.ts";
import { writeRunReport } from "../report/write.ts";
import { type EpochBatches, epochBatches, microBatchAt, microBatchCount } from "./batches.ts";
import {
  type CheckpointState,
  retireCheckpoints,
  retireStaleArtefacts,
  writeCheckpoint,
} from "./checkpoint.ts";
import { pruneCheckpoints } from "./checkpoint-retention.ts";
import { findIntactCheckpoint } from "./checkpoint-verify.ts";
import { checkDiskSpace } from "./disk-space.ts";
import { TrainError } from "./errors.ts";
import type { SampleAnswer } from "./evaluate.ts";
import { guardMicroBatchLoss, guardStep, nonFiniteState } from "./guards.ts";
import { watchInterrupts } from "./interrupts.ts";
import { MetricsLog, type StepMetrics, skippedSoFar } from "./metrics.ts";
import { refuseFreshOverExisting, removeStaleTemps } from "./output-folder.ts";
import { acquireOutputLock } from "./output-lock.ts";
import { createProgress, type Progress, type ProgressMode } from "./progress.ts";
import { createEvaluator, type Evaluator } from "./run-eval.ts";
import { type RunInputs, runInputsFromCompiled, runInputsFromPlan } from "./run-inputs.ts";
import { startRunStatus } from "./run-status.ts";
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
  /** The compile result the plan was made with, when the caller has it (skips reading the data cache). */
  compiled?: CompileResult;
  /** Where the plan was read from, named in messages (default "the plan"). */
  planFile?: string;
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
  /**
   * The engine's own high-water mark where it tracks one (the cuda engine's GPU memory, the wasm heap,
   * which is the process's so far): what the plan's memory estimate is about when its device is not the
   * process's memory.
   */
  enginePeakBytes?: number;
  interrupted: boolean;
  resumedFrom: string | null;
  outputDir: string;
  metricsFile: string;
  checkpoint: string | null;
  /** Files the method wrote (adapter/, model/); empty when interrupted. */
  artefacts: string[];
  /** Micro-batches dropped for a non-finite loss (train.skipNonFinite), resumed ones included. */
  skipped: number;
  samples: SampleAnswer[];
}

/** Seed of one micro-batch's dropout: a function of the run's seed and the data position only, so resume repeats it. */
export function dropoutSeed(seed: number, step: number, micro: number): number {
  return (Math.imul(seed + 1, 1000003) + Math.imul(step, 1009) + micro) >>> 0;
}

/** Where a run stands: optimizer steps, epoch and micro-batch within it, and totals (a checkpoint's state). */
interface Position {
  step: number;
  epoch: number;
  micro: number;
  tokens: number;
  seconds: number;
}

/** What the parts of one run share. */
interface Run {
  plan: Plan;
  inputs: RunInputs;
  engine: Engine;
  outDir: string;
  metrics: MetricsLog;
  progress: Progress;
  pos: Position;
  stopAt: number;
  padId: number;
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
  const total = plan.optimizer.schedule.totalSteps;
  if (total === null) throw new TrainError("the plan has no step count (its data was not read)");
  const inputs = opts.compiled
    ? runInputsFromCompiled(plan, opts.compiled)
    : await runInputsFromPlan(plan, opts.planFile);
  await refuseFreshOverExisting(plan.output.dir, opts);
  checkDiskSpace(plan);

  const outDir = plan.output.dir;
  await mkdir(outDir, { recursive: true });
  // The plan actually run sits beside its results (compile writes it too, unless told not to).
  await writeJsonAtomic(join(outDir, "plan.json"), plan);
  const endStatus = await startRunStatus(outDir, plan.recipe.hash, opts.resume ?? false);
  try {
    const result = await trainStarted(plan, opts, inputs, total);
    await endStatus({
      status: result.interrupted ? "interrupted" : "finished",
      steps: result.steps,
      loss: result.loss,
      evalLoss: result.evalLoss,
      probeRecall: result.probeRecall,
      tokensPerSecond: result.tokensPerSecond,
      peakRssBytes: result.peakRssBytes,
    });
    return result;
  } catch (e) {
    await endStatus({ status: "failed", error: (e as Error).message ?? String(e) }).catch(() => {});
    throw e;
  }
}

async function trainStarted(
  plan: Plan,
  opts: TrainOptions,
  inputs: RunInputs,
  total: number,
): Promise<RunResult> {
  const outDir = plan.output.dir;
  const progress = createProgress(opts.progress ?? "auto");
  // Last before the try: nothing between here and its finally can throw.
  const engine = opts.engine ?? (await createEngine(plan));
  const interrupts = watchInterrupts(opts, progress);
  try {
    const run: Run = {
      plan,
      inputs,
      engine,
      outDir,
      metrics: new MetricsLog(join(outDir, "metrics.jsonl")),
      progress,
      pos: { step: 0, epoch: 0, micro: 0, tokens: 0, seconds: 0 },
      stopAt: Math.min(total, opts.maxSteps ?? total),
      padId: plan.tokenizer.pad?.id ?? plan.tokenizer.eos?.id ?? 0,
    };
    const loaded = await engine.load({ plan, model: inputs.model });
    const resumedFrom = await startOrResume(run, loaded, opts.resume ?? false);
    const evaluator = createEvaluator({
      ...run,
      stopIds: stopIdsOf(plan, inputs),
      sampleCount: inputs.tokenizer ? (opts.samples ?? 2) : 0,
    });
    const initialEval = !resumedFrom && run.pos.step < run.stopAt ? await evaluator.run(0) : null;
    const checkpoints = checkpointer(run, resumedFrom);
    const steps = await runSteps(run, evaluator, checkpoints, interrupts.signal, opts.onStep);
    const interrupted = interrupts.signal.aborted && run.pos.step < run.stopAt;
    const finished = await finish(run, evaluator, checkpoints, interrupted);
    return displayRunResult({
      steps: run.pos.step,
      epochs: steps.lastEpoch ?? run.pos.epoch,
      loss: steps.lastLoss,
      initialEvalLoss: initialEval,
      evalLoss: evaluator.last.loss,
      probeRecall: evaluator.last.recall,
      tokens: steps.tokens,
      seconds: steps.seconds,
      tokensPerSecond: steps.seconds > 0 ? steps.tokens / steps.seconds : 0,
      peakRssBytes: Math.max(steps.rssPeak, resourceUsage().maxRSS * 1024),
      ...enginePeak(engine),
      interrupted,
      resumedFrom,
      outputDir: outDir,
      metricsFile: run.metrics.path,
      checkpoint: checkpoints.last(),
      artefacts: finished.artefacts,
      skipped: steps.skipped,
      samples: evaluator.last.samples,
    });
  } finally {
    progress.stop();
    interrupts.dispose();
    engine.dispose();
  }
}

/** The ids that end a generated answer: EOS and the template's end-of-turn token. */
function stopIdsOf(plan: Plan, inputs: RunInputs): number[] {
  return [
    plan.tokenizer.eos?.id,
    plan.template.endOfTurn ? inputs.tokenizer?.tokenToId(plan.template.endOfTurn) : undefined,
  ].filter((x): x is number => typeof x === "number");
}

/**
 * Resume: load the latest complete checkpoint into the engine and move to its position (returns it).
 * A fresh run sets earlier checkpoints aside. Either way metrics.jsonl keeps only what came before.
 */
async function startOrResume(run: Run, loaded: LoadedModel, resume: boolean): Promise<string | null> {
  const { plan, engine, outDir, progress, pos } = run;
  let resumedFrom: string | null = null;
  if (resume) {
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
  await run.metrics.truncateAfter(resumedFrom ? pos.step : -1, { redoEvaluation: pos.step >= run.stopAt });
  return resumedFrom;
}

interface Checkpoints {
  /** Writes one at the current position; returns its folder. */
  write(): Promise<string>;
  /** The newest one written (or resumed from), and whether it is at the current step. */
  last(): string | null;
  current(): boolean;
}

function checkpointer(run: Run, resumedFrom: string | null): Checkpoints {
  const { plan, pos } = run;
  let lastStep = resumedFrom ? pos.step : -1;
  let last = resumedFrom;
  return {
    async write() {
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
      last = await writeCheckpoint(run.outDir, await run.engine.readState(), state).catch((e: unknown) => {
        throw e instanceof NonFiniteTensorError ? nonFiniteState(pos.step, last, e) : e;
      });
      await pruneCheckpoints(run.outDir, plan.checkpoints.keep, run.metrics.path);
      lastStep = pos.step;
      return last;
    },
    last: () => last,
    current: () => lastStep === pos.step,
  };
}

interface StepTotals {
  lastLoss: number | null;
  /** Fractional epoch after the last step (null when no step ran). */
  lastEpoch: number | null;
  /** Real tokens and seconds of the steps run in this call. */
  tokens: number;
  seconds: number;
  rssPeak: number;
  /** Micro-batches skipped for a non-finite loss, resumed ones included. */
  skipped: number;
}

/** Optimizer steps until stopAt or an interrupt, with evaluations and checkpoints at the plan's intervals. */
async function runSteps(
  run: Run,
  evaluator: Evaluator,
  checkpoints: Checkpoints,
  signal: AbortSignal,
  onStep: ((m: StepMetrics) => void) | undefined,
): Promise<StepTotals> {
  const { plan, inputs, engine, pos, stopAt, padId, progress } = run;
  const total = plan.optimizer.schedule.totalSteps ?? stopAt;
  const accum = plan.batching.gradientAccumulation;
  const evalEvery = plan.eval.every ?? plan.optimizer.stepsPerEpoch;
  const schedule = {
    kind: plan.optimizer.schedule.kind,
    warmupSteps: plan.optimizer.schedule.warmupSteps ?? 0,
    totalSteps: total,
    minLearningRateRatio: plan.optimizer.schedule.minLearningRateRatio,
  };
  let epoch: { index: number; batches: EpochBatches } | null = null;
  const epochAt = (e: number): EpochBatches => {
    if (epoch?.index !== e) {
      epoch = { index: e, batches: epochBatches(plan, inputs.data, e) };
      if (microBatchCount(epoch.batches) === 0) throw new TrainError(`epoch ${e} has no micro-batches`);
    }
    return epoch.batches;
  };
  const totals: StepTotals = {
    lastLoss: null,
    lastEpoch: null,
    tokens: 0,
    seconds: 0,
    rssPeak: process.memoryUsage().rss,
    skipped: 0,
  };
  // train.skipNonFinite counts over the whole run: a resume starts with what metrics.jsonl kept.
  const budget = plan.nonFinite
    ? { allowed: plan.nonFinite.skip, used: skippedSoFar(run.metrics.path) }
    : undefined;
  // Skips of attempts that kept no micro-batch, logged with the next step that trains.
  let unlogged = 0;
  progress.start(stopAt, pos.step);

  while (pos.step < stopAt && !signal.aborted) {
    const t0 = performance.now();
    const ep = epochAt(pos.epoch);
    const count = microBatchCount(ep);
    const end = Math.min(count, pos.micro + accum);
    const lr = learningRateAt(pos.step, plan.optimizer.learningRate, schedule);
    const first = pos.micro;
    const micro = function* () {
      for (let k = first; k < end; k++) yield microBatchAt(ep, k, padId);
    };
    const step = pos.step;
    // Numerical guards (train/guards.ts): a non-finite loss or norm throws before anything is saved.
    const place = { step: step + 1, epoch: ep, epochIndex: pos.epoch, lastCheckpoint: checkpoints.last() };
    const r = await trainStep(engine, micro(), {
      seed: (k) => dropoutSeed(plan.seed, step, k),
      learningRate: lr,
      clipNorm: plan.optimizer.clipNorm,
      onMicroBatch: (k, lossSum) => {
        totals.rssPeak = Math.max(totals.rssPeak, process.memoryUsage().rss);
        const skipped = guardMicroBatchLoss(place, first + k, lossSum, budget);
        if (!skipped) return;
        progress.log(skipped);
        return "skip";
      },
    });
    const { norm, loss, trainedTokens, tokens } = r;
    // A non-finite norm the engine did not apply: the step's micro-batches are dropped like bad losses.
    const normSkip = r.kept > 0 ? guardStep(place, { first, end }, r, budget) : null;
    if (normSkip) progress.log(normSkip);
    totals.skipped = budget?.used ?? 0;

    pos.micro = end;
    if (end >= count) {
      pos.epoch++;
      pos.micro = 0;
    }
    // Every micro-batch of the step was skipped (or its update refused): nothing changed, the step trains
    // on the next ones.
    if (!r.applied) {
      unlogged += r.skipped + (normSkip ? r.kept : 0);
      continue;
    }
    pos.step++;
    const skippedHere = unlogged + r.skipped;
    unlogged = 0;
    const seconds = (performance.now() - t0) / 1000;
    pos.tokens += tokens;
    pos.seconds += seconds;
    totals.tokens += tokens;
    totals.seconds += seconds;
    totals.lastLoss = loss;
    const m: StepMetrics = {
      step: pos.step,
      epoch: pos.epoch + pos.micro / count,
      loss,
      lr,
      tokens,
      trainedTokens,
      seconds,
      gradNorm: norm,
      ...(skippedHere > 0 ? { skipped: skippedHere } : {}),
      ...deviceMemory(engine),
    };
    totals.lastEpoch = m.epoch;
    run.metrics.append(m);
    progress.step(m, totals.seconds > 0 ? totals.tokens / totals.seconds : 0);
    onStep?.(m);

    // tfjs work resolves in microtasks only: let signals (Ctrl-C) and timers in once per step.
    await new Promise((resolve) => setImmediate(resolve));
    const last = pos.step >= stopAt;
    if (!last && evalEvery && pos.step % evalEvery === 0) await evaluator.run(pos.step);
    const every = plan.checkpoints.every;
    if (!last && every && pos.step % every === 0) await checkpoints.write();
  }
  return totals;
}

/**
 * The end of a run: a last evaluation and checkpoint, the method's artefacts (not when interrupted), and
 * the run report (curves and report.html beside metrics.jsonl, for stopped runs too; a failure there never
 * fails the run).
 */
async function finish(
  run: Run,
  evaluator: Evaluator,
  checkpoints: Checkpoints,
  interrupted: boolean,
): Promise<{ artefacts: string[] }> {
  const { plan, inputs, engine, outDir, progress, pos } = run;
  const absolute = (f: string) => (isAbsolute(f) ? f : join(outDir, f));
  let artefacts: string[] = [];
  if (!interrupted) await evaluator.run(pos.step);
  if (!checkpoints.current()) await checkpoints.write();
  if (interrupted) {
    progress.log(`stopped at step ${pos.step}; checkpoint ${checkpoints.last()}`);
    for (const moved of await retireStaleArtefacts(outDir))
      progress.log(`an earlier run's artefacts are now in ${moved} (this run wrote none)`);
  } else {
    const written = await engine
      .saveArtefacts({
        outDir,
        save: plan.output.save,
        tokenizerDir: plan.tokenizer.dir,
        chatTemplate: inputs.template,
        baseModel: baseModelOf(plan.model.source, plan.output.baseModelName),
      })
      .catch((e: unknown) => {
        throw e instanceof NonFiniteTensorError ? nonFiniteState(pos.step, checkpoints.last(), e) : e;
      });
    artefacts = written.map(absolute);
  }
  try {
    const report = await writeRunReport(outDir);
    if (!interrupted) artefacts.push(...report.files.filter((f) => f.endsWith("report.html")).map(absolute));
    for (const w of report.warnings) progress.log(`report: ${w}`);
  } catch (e) {
    progress.log(`report not written: ${(e as Error).message}`);
  }
  return { artefacts };
}

/** The step's memory figures from an engine that tallies a peak (the cuda engine's GPU allocator). */
function enginePeak(engine: Engine): Pick<RunResult, "enginePeakBytes"> {
  const m = engine.memory();
  const peak = m.peakBytes ?? m.highWaterBytes;
  return peak === undefined ? {} : { enginePeakBytes: peak };
}

function deviceMemory(engine: Engine): Pick<StepMetrics, "memory"> {
  const m = engine.memory();
  if (m.peakBytes === undefined) return {};
  return {
    memory: {
      bytes: m.bytes,
      peakBytes: m.peakBytes,
      ...(m.reservedBytes !== undefined ? { reservedBytes: m.reservedBytes } : {}),
    },
  };
}
