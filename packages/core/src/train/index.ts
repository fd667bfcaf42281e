// The training runtime's public names.
export { AdamW, type AdamWOptions, type AdamWState } from "../engines/tfjs/adamw.ts";
export { CheckpointError, latestCheckpoint } from "./checkpoint.ts";
export { TrainError } from "./errors.ts";
export { readPlanFile, trainFromPlan } from "./from-plan.ts";
export { type RunResult, type TrainOptions, train } from "./loop.ts";
export type { BuildMethod, MethodForward, MethodRuntime, SaveOptions } from "./method-runtime.ts";
export type { EvalMetrics, StepMetrics } from "./metrics.ts";
export { learningRateAt, type ScheduleSpec } from "./schedule.ts";
