// metrics.jsonl: one JSON object per optimizer step (and per evaluation), appended as training goes.
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { writeFileAtomic } from "../util/atomic-write.ts";
import { TrainError } from "./errors.ts";

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
  /** Micro-batches dropped for a non-finite loss since the step before (train.skipNonFinite); absent: none. */
  skipped?: number;
  /**
   * The engine's device memory after the step, where it tallies a peak (cuda: the GPU allocator's bytes in
   * use, its peak since load, and the arena reserved from the plan).
   */
  memory?: { bytes: number; peakBytes: number; reservedBytes?: number };
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
    try {
      appendFileSync(this.path, `${JSON.stringify(entry)}\n`);
    } catch (e) {
      // A failed append (a full disk) carries no path of its own: name the file.
      (e as NodeJS.ErrnoException).path ??= this.path;
      throw e;
    }
  }

  /**
   * Drops entries past `step` (a resumed run repeats the steps after its checkpoint), or all of them; with
   * `redoEvaluation`, also the evaluation and samples logged at `step` itself (the run evaluates it again).
   */
  async truncateAfter(step: number, opts: { redoEvaluation?: boolean } = {}): Promise<void> {
    if (!existsSync(this.path)) return;
    if (step < 0) {
      await writeFileAtomic(this.path, "");
      return;
    }
    const lines = readFileSync(this.path, "utf8").split("\n");
    const lastFilled = lines.findLastIndex((l) => l.trim() !== "");
    const kept = lines.filter((line, i) => {
      if (!line.trim()) return false;
      let e: { step?: number; loss?: number };
      try {
        e = JSON.parse(line) as { step?: number; loss?: number };
      } catch (err) {
        // A kill mid-append tears the last line only; a broken line before it is damage, named, not dropped.
        if (i === lastFilled) return false;
        throw new TrainError(
          `${this.path}:${i + 1}: not a JSON line (${(err as Error).message}); repair or delete that line, or start over with --overwrite`,
        );
      }
      if (opts.redoEvaluation && e.step === step && e.loss === undefined) return false;
      return e.step! <= step;
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

/** Micro-batches skipped for a non-finite loss in the steps metrics.jsonl holds (0 without the file). */
export function skippedSoFar(path: string): number {
  if (!existsSync(path)) return 0;
  return readStepMetrics(path).reduce((n, m) => n + (m.skipped ?? 0), 0);
}
