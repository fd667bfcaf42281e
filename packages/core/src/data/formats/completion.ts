import { type ConvertResult, RowError, type SourceFormatOptions, str } from "./types.ts";

/** Plain text, trained on every token (continued pre-training style). */
export function convertCompletion(row: Record<string, unknown>, src: SourceFormatOptions): ConvertResult {
  const key = src.columns?.text ?? "text";
  const text = str(row, key, { optional: false });
  if (text === undefined) throw new RowError(key, "missing");
  return { ok: true, value: { kind: "text", text } };
}
