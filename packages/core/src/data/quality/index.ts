export { isRefusal, truncation } from "./checks.ts";
export { renderHtml } from "./html.ts";
export { detectLanguage } from "./language.ts";
export { DEFAULT_NEAR_THRESHOLD, LshIndex, signature, similarity } from "./minhash.ts";
export { analyse, buildQualityReport, type QualityOptions, reportJson } from "./report.ts";
export type * from "./types.ts";
