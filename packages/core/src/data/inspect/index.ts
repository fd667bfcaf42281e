export {
  formatInspection,
  formatSourceStats,
  type InspectedSample,
  type InspectOptions,
  inspectJson,
  pickSamples,
  spans,
} from "./inspect.ts";
