// Learning-rate schedule: linear warmup, then cosine / linear decay to a floor, or constant.
import type { Plan } from "../compile/plan-schema.ts";

export interface ScheduleSpec {
  kind: Plan["optimizer"]["schedule"]["kind"];
  warmupSteps: number;
  totalSteps: number;
  /** Floor of the decay as a fraction of the peak. */
  minLearningRateRatio: number;
}

/**
 * The learning rate of optimizer step `step` (0-based). Warmup ramps to the peak over `warmupSteps`
 * steps, ending on it (the first step is not wasted at 0); the decay then runs from the peak towards
 * `peak * minLearningRateRatio`, reached at `totalSteps` as in transformers (the last step is not wasted either).
 */
export function learningRateAt(step: number, peak: number, s: ScheduleSpec): number {
  if (step < s.warmupSteps) return (peak * (step + 1)) / s.warmupSteps;
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  const progress = Math.min(1, Math.max(0, (step - s.warmupSteps) / span));
  const floor = s.minLearningRateRatio;
  let factor: number;
  switch (s.kind) {
    case "constant":
      return peak;
    case "cosine":
      factor = 0.5 * (1 + Math.cos(Math.PI * progress));
      break;
    case "linear":
      factor = 1 - progress;
      break;
  }
  return peak * (floor + (1 - floor) * factor);
}
