// One evaluation of a run: eval loss, knowledge-probe recall and greedy sample answers, logged and recorded.
import type { Plan } from "../compile/plan-schema.ts";
import type { Engine } from "../engines/engine.ts";
import { epochBatches } from "./batches.ts";
import { evalSamples, evaluate, type SampleAnswer, sampleAnswers } from "./evaluate.ts";
import type { MetricsLog } from "./metrics.ts";
import { evaluateProbes } from "./probes.ts";
import type { Progress } from "./progress.ts";
import type { RunInputs } from "./run-inputs.ts";

export interface Evaluator {
  /** Evaluates at `step`; returns the eval loss (null without eval samples). */
  run(step: number): Promise<number | null>;
  /** The latest eval loss, probe recall and sample answers. */
  readonly last: { loss: number | null; recall: number | null; samples: SampleAnswer[] };
}

export function createEvaluator(ctx: {
  plan: Plan;
  engine: Engine;
  inputs: RunInputs;
  padId: number;
  stopIds: number[];
  sampleCount: number;
  metrics: MetricsLog;
  progress: Progress;
}): Evaluator {
  const { plan, engine, inputs, padId, stopIds, sampleCount, metrics, progress } = ctx;
  const { tokenizer, template, probes } = inputs;
  const evalSet = evalSamples(plan, inputs.data);
  const last: Evaluator["last"] = { loss: null, recall: null, samples: [] };

  // Knowledge probes: the share of taught facts answered exactly (greedy), when the plan has them.
  const probeRecall = async (): Promise<number | undefined> => {
    if (!probes.length || !tokenizer || !template) return undefined;
    const pr = await evaluateProbes(engine, probes, { tokenizer, template, stopIds });
    last.recall = pr.recall;
    for (const x of pr.results.slice(0, sampleCount))
      progress.log(`  probe: ${x.token} -> ${JSON.stringify(x.output)} (taught ${JSON.stringify(x.answer)})`);
    return pr.recall;
  };

  const samples = async (step: number) => {
    if (sampleCount <= 0 || !tokenizer) return;
    const prompts = evalSet.length ? evalSet : epochBatches(plan, inputs.data, 0).samples;
    last.samples = await sampleAnswers(engine, prompts, {
      count: sampleCount,
      stopIds,
      decode: (ids) => tokenizer.decode(ids),
    });
    for (const s of last.samples) {
      metrics.append({ step, sample: { step, ...s } });
      progress.log(`  sample: ${JSON.stringify(s.prompt)} -> ${JSON.stringify(s.completion)}`);
    }
  };

  return {
    last,
    async run(step) {
      const t0 = performance.now();
      const r = await evaluate(engine, evalSet, plan, padId);
      const recall = await probeRecall();
      const extra = recall === undefined ? {} : { probeRecall: recall };
      if (r) {
        last.loss = r.loss;
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
      await samples(step);
      return r?.loss ?? null;
    },
  };
}
