export type { EndOfTurnTokens, TemplateEndOfTurn } from "./end-of-turn.ts";
export {
  endOfTurnTokens,
  markerLike,
  probeUndefined,
  renderProbeWithSystem,
  templateEndOfTurn,
} from "./end-of-turn.ts";
export { trainedRuns } from "./inspect.ts";
export type { AssistantSpan, SpanResult } from "./spans.ts";
export { assistantSpans, endOfTurnCandidates } from "./spans.ts";
export type {
  EosPolicy,
  LossOn,
  TokenizeCompletionOptions,
  TokenizeConversationOptions,
  TokenizedConversation,
} from "./tokenize.ts";
export { labelsFromRanges, tokenizeCompletion, tokenizeConversation, trainedRanges } from "./tokenize.ts";
