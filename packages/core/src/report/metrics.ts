// Reads metrics.jsonl as the loop writes it, tolerating what a stopped or running run leaves:
// a half-written last line, no eval lines, a file not there yet.
import { existsSync, readFileSync } from "node:fs";

/** One optimizer step; only step and loss are required (older or partial lines lack the rest). */
export interface StepPoint {
  step: number;
  loss: number;
  epoch?: number;
  lr?: number;
  tokens?: number;
  seconds?: number;
  gradNorm?: number;
}

export interface EvalPoint {
  step: number;
  evalLoss: number;
}

export interface SamplePoint {
  step: number;
  prompt: string;
  completion: string;
}

/** Share of knowledge probes answered exactly (0..1), from a line that carries `probeRecall`. */
export interface ProbePoint {
  step: number;
  recall: number;
}

export interface RunMetrics {
  steps: StepPoint[];
  evals: EvalPoint[];
  samples: SamplePoint[];
  probes: ProbePoint[];
}

const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

/** Sorts parsed lines into steps, evals and samples; a step logged twice (resume) keeps its last line. */
export function toRunMetrics(lines: readonly unknown[]): RunMetrics {
  const steps = new Map<number, StepPoint>();
  const evals = new Map<number, EvalPoint>();
  const probes = new Map<number, ProbePoint>();
  const samples: SamplePoint[] = [];
  for (const line of lines) {
    if (!line || typeof line !== "object") continue;
    const o = line as Record<string, unknown>;
    const step = num(o.step);
    if (step === undefined) continue;
    const loss = num(o.loss);
    const evalLoss = num(o.evalLoss);
    const recall = num(o.probeRecall);
    // An eval line may carry the probe recall too; a line of its own works as well.
    if (recall !== undefined && loss === undefined) probes.set(step, { step, recall });
    if (loss !== undefined) {
      const p: StepPoint = { step, loss };
      for (const k of ["epoch", "lr", "tokens", "seconds", "gradNorm"] as const) {
        const v = num(o[k]);
        if (v !== undefined) p[k] = v;
      }
      steps.set(step, p);
    } else if (evalLoss !== undefined) evals.set(step, { step, evalLoss });
    else if (o.sample && typeof o.sample === "object") {
      const s = o.sample as Record<string, unknown>;
      samples.push({ step, prompt: String(s.prompt ?? ""), completion: String(s.completion ?? "") });
    }
  }
  const byStep = (a: { step: number }, b: { step: number }) => a.step - b.step;
  return {
    steps: [...steps.values()].sort(byStep),
    evals: [...evals.values()].sort(byStep),
    samples,
    probes: [...probes.values()].sort(byStep),
  };
}

export function parseMetrics(text: string): RunMetrics {
  const lines: unknown[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      lines.push(JSON.parse(line));
    } catch {
      // A line cut by a crash or read mid-write: skip it.
    }
  }
  return toRunMetrics(lines);
}

/** The run's metrics; empty when the file does not exist yet. */
export function readRunMetrics(file: string): RunMetrics {
  return existsSync(file)
    ? parseMetrics(readFileSync(file, "utf8"))
    : { steps: [], evals: [], samples: [], probes: [] };
}

/** Tokens per second of each step that logged both tokens and a positive duration. */
export function throughput(m: RunMetrics): { step: number; tokensPerSecond: number }[] {
  return m.steps.flatMap((s) =>
    s.tokens !== undefined && s.seconds !== undefined && s.seconds > 0
      ? [{ step: s.step, tokensPerSecond: s.tokens / s.seconds }]
      : [],
  );
}
