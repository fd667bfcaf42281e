// Plots, run reports and notebook displays.
export {
  learningRateSpec,
  learningRateSvg,
  lossCurveSvg,
  lossSpec,
  probeRecallSpec,
  probeRecallSvg,
  renderSvg,
  throughputSpec,
  throughputSvg,
} from "./charts.ts";
export { attachDisplay, type Displayable, JUPYTER_DISPLAY, type MimeBundle } from "./display.ts";
export { displayable } from "./display-plan.ts";
export { displayQualityReport } from "./display-quality.ts";
export { displayRunResult, type RunResultLike } from "./display-run.ts";
export {
  type EvalPoint,
  type ProbePoint,
  parseMetrics,
  type RunMetrics,
  readRunMetrics,
  type StepPoint,
  toRunMetrics,
} from "./metrics.ts";
export { planHtml } from "./plan-html.ts";
export { svgToPng } from "./png.ts";
export { type RunReportFiles, readRunPlan, writeRunReport } from "./write.ts";
