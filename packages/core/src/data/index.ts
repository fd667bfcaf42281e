// Public pieces of the data pipeline (readers, formats, filters, mixing, batching, cache, inspection, quality).

export {
  type BatchOptions,
  type BatchSchedule,
  packRows,
  planBatches,
  positionIds,
  segmentIds,
} from "./batch/index.ts";
export { DATA_CODE_VERSION } from "./cache/key.ts";
export { fakeDecode, fakeEncode, fakeEncodeCompletion } from "./fake-encoder.ts";
export { type Converted, convertRow, type DatasetInfoEntry, fromDatasetInfo } from "./formats/index.ts";
export {
  formatInspection,
  formatSourceStats,
  type InspectedSample,
  inspectJson,
  pickSamples,
} from "./inspect/index.ts";
export { countBySource, drawSource, mixSamples, samplesPerEpoch } from "./mix/mix.ts";
export { mulberry32, rngFor, shuffle } from "./mix/rng.ts";
export { splitIndices } from "./mix/split.ts";
export {
  type DataPipelineOptions,
  mixEpoch,
  type PreparedData,
  prepareData,
  type SourceOutput,
  type SourceReport,
} from "./pipeline.ts";
export {
  buildQualityReport,
  type Finding,
  type QualityOptions,
  type QualityReport,
  renderHtml as renderQualityHtml,
  reportJson as qualityReportJson,
} from "./quality/index.ts";
export { countRows, type DataProblem, formatProblem, readRows, resolveFiles } from "./readers/index.ts";
export * from "./types.ts";
