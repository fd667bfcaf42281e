// The public API of @sftkit/core, exported by name.

// `tsx recipe.ts` runs the recipe like `sft run` (a recipe file imports this entry).
import "./direct-run.ts";

// Compiler
export {
  type CompileOptions,
  type CompileResult,
  compile,
  compileRecipe,
  readPlan,
} from "./compile/compile.ts";
export { PLAN_VERSION, type Plan, PlanSchema } from "./compile/plan-schema.ts";
export { type BuiltinTemplateName, builtinTemplates, renderChatTemplate } from "./data/template/index.ts";
// Data
export { loadTokenizer, type Tokenizer } from "./data/tokenizer/index.ts";
// Training and generation
// Engines: the compute seam and its registry
export type {
  AppliedStep,
  ApplyStepOptions,
  Engine,
  EngineAvailability,
  EngineDefinition,
  EngineLoadSpec,
  EngineMemory,
  EngineMicroBatch,
  LoadedModel,
  LossSum,
  ModelSource,
  SaveArtefactsOptions,
  TensorShape,
  TensorValues,
  TrainableState,
} from "./engines/engine.ts";
export {
  decideEngine,
  type EngineDecision,
  type EngineStatus,
  engineDefinition,
  listEngines,
  registerEngine,
  unregisterEngine,
} from "./engines/index.ts";
export { type GenerateOptions, type GenerateResult, generate } from "./engines/tfjs/generate.ts";
// Export to distributed engines
export { type ExportOptions, type ExportResult, exportRecipe } from "./export/index.ts";
export { buildMethod } from "./methods/index.ts";
export { type AppliedAdapter, applyAdapter } from "./methods/load.ts";
export { dequantizeNF4, quantizeNF4 } from "./model/adapters/index.ts";
// Model
export {
  type AdapterHooks,
  activationBytes,
  type DecoderFamilyOptions,
  decoderFamily,
  familyNames,
  importLlama2c,
  initBackend,
  type LinearModule,
  loadModel,
  Model,
  type ModelConfig,
  type ModelFamily,
  randomModel,
  readHfConfig,
  registerFamily,
  resolveHubModel,
  SafetensorsFile,
  type TensorFact,
  unregisterFamily,
  type WeightSource,
  writeSafetensors,
} from "./model/index.ts";
// Recipe language
export {
  definePreset,
  defineRecipe,
  extendRecipe,
  type RecipeOf,
  type RecipeOverrides,
  type TokenRefIn,
} from "./recipe/define.ts";
export {
  codeFrame,
  type Diagnostic,
  formatDiagnostic,
  formatDiagnostics,
  formatPath,
  type Problem,
  RecipeError,
  type SourceLocation,
} from "./recipe/diagnostics.ts";
export type { Override, OverrideRecord } from "./recipe/overrides.ts";
export { parseRecipe } from "./recipe/parse.ts";
export {
  ArchitectureSchema,
  builtinTemplateNames,
  DataSchema,
  MethodSchema,
  ModelSchema,
  OutputSchema,
  type Recipe,
  type RecipeInput,
  RecipeSchema,
  ScaleSchema,
  SourceSchema,
  TemplateSchema,
  TokensSchema,
  TrainSchema,
} from "./recipe/schema/index.ts";
export {
  defineSweep,
  type RecipePath,
  type RecipePathValue,
  type Sweep,
  type SweepAxes,
  type SweepMode,
  type SweepSpec,
  sweepTrials,
  type Trial,
} from "./recipe/sweep.ts";
export { acknowledgeableErrorIds, type WarningId, warningIds } from "./recipe/warnings.ts";
export {
  type ComparedRun,
  type CompareMetric,
  type Comparison,
  compareRuns,
  comparisonHtml,
  comparisonJson,
  displayComparison,
} from "./report/compare.ts";
// Plots, run reports, notebook display
export {
  type Displayable,
  displayable,
  displayQualityReport,
  displayRunResult,
  JUPYTER_DISPLAY,
  learningRateSvg,
  lossCurveSvg,
  type MimeBundle,
  parseMetrics,
  type RunMetrics,
  type RunResultLike,
  readRunMetrics,
  throughputSvg,
  writeRunReport,
} from "./report/index.ts";
export { type ListedRun, listRuns } from "./report/runs.ts";
export { type RunResult, type TrainOptions, train, trainFromPlan } from "./train/index.ts";
export type { MethodRuntime } from "./train/method-runtime.ts";
export { evaluateProbes, type ProbeRecall } from "./train/probes.ts";
export { type RunStatus, readRunStatus } from "./train/run-status.ts";
export { compileSweep, runSweep, type SweepRun, type SweepRunOptions } from "./train/sweep.ts";
