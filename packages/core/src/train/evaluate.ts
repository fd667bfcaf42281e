// Evaluation through the engine: mean loss over the eval split's trained tokens, and greedy sample answers.
import type { Plan } from "../compile/plan-schema.ts";
import { planBatches } from "../data/batch/index.ts";
import type { SplitData } from "../data/pipeline.ts";
import { IGNORE_INDEX, type TokenizedSample } from "../data/types.ts";
import type { Engine } from "../engines/engine.ts";
import { fillBatch } from "./batches.ts";

/** The eval samples of every source, in source order, capped at `eval.maxSamples`. */
export function evalSamples(plan: Plan, prepared: SplitData): TokenizedSample[] {
  const all = prepared.reports.flatMap((r) => prepared.eval[r.name] ?? []);
  return plan.eval.maxSamples !== null ? all.slice(0, plan.eval.maxSamples) : all;
}

export interface EvalResult {
  loss: number;
  tokens: number;
}

/** Mean token loss over the samples (dropout off), batched by length within the plan's token budget. */
export async function evaluate(
  engine: Engine,
  samples: readonly TokenizedSample[],
  plan: Plan,
  padId: number,
): Promise<EvalResult | null> {
  if (samples.length === 0) return null;
  const budget =
    plan.batching.tokensPerMicroBatch ?? (plan.batching.microBatchSize ?? 1) * plan.data.maxLength;
  const schedule = planBatches(
    samples.map((s) => s.inputIds.length),
    { mode: "bucket", tokensPerMicroBatch: Math.max(budget, plan.data.maxLength), seed: 0, epoch: 0 },
  );
  if (schedule.kind !== "padded") throw new Error("unreachable: bucketed schedules are padded");
  let sum = 0;
  let tokens = 0;
  for (const mb of schedule.microBatches) {
    const { batch, labels, trainedTokens } = fillBatch(
      mb.samples.map((i) => [{ sample: samples[i]!, start: 0 }]),
      mb.paddedLength,
      padId,
    );
    if (trainedTokens === 0) continue;
    sum += (await engine.evalLoss({ ...batch, labels })).lossSum;
    tokens += trainedTokens;
  }
  return tokens > 0 ? { loss: sum / tokens, tokens } : null;
}

/** The prompt part of a sample: its ids before the first trained label. */
export function promptOf(sample: TokenizedSample): number[] {
  const first = sample.labels.findIndex((l) => l !== IGNORE_INDEX);
  return sample.inputIds.slice(0, first < 0 ? sample.inputIds.length : first);
}

export interface SampleAnswer {
  prompt: string;
  completion: string;
}

/** Greedy answers to the first `count` prompts, stopping on EOS or the end-of-turn token. */
export async function sampleAnswers(
  engine: Pick<Engine, "generate">,
  samples: readonly TokenizedSample[],
  opts: { count: number; stopIds: number[]; decode: (ids: number[]) => string; maxNewTokens?: number },
): Promise<SampleAnswer[]> {
  const out: SampleAnswer[] = [];
  for (const s of samples.slice(0, opts.count)) {
    const prompt = promptOf(s);
    if (prompt.length === 0) continue;
    const r = await engine.generate(prompt, { maxNewTokens: opts.maxNewTokens ?? 48, stopIds: opts.stopIds });
    out.push({ prompt: opts.decode(prompt), completion: opts.decode(r.ids) });
  }
  return out;
}
