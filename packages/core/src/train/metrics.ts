// metrics.jsonl: one JSON object per optimizer step (and per evaluation), appended as training goes.
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { writeFileAtomic } from "../util/atomic-write.ts";

export interface StepMetrics {
  step: number;
  /** Fractional epoch reached after this step. */
  epoch: number;
  /** Mean loss over the step's trained tokens (all accumulated micro-batches). */
  loss: number;
  lr: number;
  /** Real (non-padding) tokens of the step, and the trained ones among them. */
  tokens: number;
  trainedTokens: number;
  /** Seconds the step took. */
  seconds: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
}

export interface EvalMetrics {
  step: number;
  evalLoss: number;
  evalTokens: number;
  seconds: number;
  /** Share of knowledge probes answered exactly (recipes with probes). */
  probeRecall?: number;
}

export interface SampleMetrics {
  step: number;
  prompt: string;
  completion: string;
}

export class MetricsLog {
  constructor(readonly path: string) {}

  append(
    entry:
      | StepMetrics
      | EvalMetrics
      | { step: number; probeRecall: number }
      | { step: number; sample: SampleMetrics },
  ): void {
    appendFileSync(this.path, `${JSON.stringify(entry)}\n`);
  }

  /**
   * Drops entries past `step` (a resumed run repeats the steps after its checkpoint), or all of them; with
   * `redoEvaluation`, also the evaluation and samples logged at `step` itself (the run evaluates it again).
   */
  async truncateAfter(step: number, opts: { redoEvaluation?: boolean } = {}): Promise<void> {
    if (!existsSync(this.path)) return;
    const kept = readFileSync(this.path, "utf8")
      .split("\n")
      .filter((line) => {
        if (!line.trim()) return false;
        try {
          const e = JSON.parse(line) as { step?: number; loss?: number };
          if (opts.redoEvaluation && e.step === step && e.loss === undefined) return false;
          return e.step! <= step;
        } catch {
          return false;
        }
      });
    await writeFileAtomic(this.path, kept.length ? `${kept.join("\n")}\n` : "");
  }
}

/** Reads metrics.jsonl back (steps only). */
export function readStepMetrics(path: string): StepMetrics[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as StepMetrics & Partial<EvalMetrics>)
    .filter((m) => m.loss !== undefined);
}
