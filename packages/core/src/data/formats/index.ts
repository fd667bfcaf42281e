import { convertAlpaca } from "./alpaca.ts";
import { convertMessages, convertSharegpt } from "./chat.ts";
import { convertCompletion } from "./completion.ts";
import { convertTokenized } from "./tokenized.ts";
import { type ConvertResult, RowError, type SourceFormatOptions } from "./types.ts";

export { type DatasetInfoEntry, fromDatasetInfo } from "./dataset-info.ts";
export {
  applyFilters,
  emptyTurn,
  type FilterCounts,
  type FiltersOutput,
  lastAnswer,
  promptText,
  sampleText,
  trainedText,
} from "./filters.ts";
export type { Converted, ConvertResult, SourceFormatOptions, SourceOutput } from "./types.ts";
export { conversationOf } from "./types.ts";

const converters = {
  alpaca: convertAlpaca,
  sharegpt: convertSharegpt,
  messages: convertMessages,
  completion: convertCompletion,
  tokenized: convertTokenized,
} as const;

/** One raw row to a conversation / text / ids; a wrong shape is `{ ok: false, field, message }`, never a throw. */
export function convertRow(row: Record<string, unknown>, src: SourceFormatOptions): ConvertResult {
  try {
    return converters[src.format](row, src);
  } catch (e) {
    if (e instanceof RowError)
      return e.field === undefined
        ? { ok: false, message: e.message }
        : { ok: false, field: e.field, message: e.message };
    return { ok: false, message: `cannot convert: ${(e as Error).message}` };
  }
}

/** Top-level columns a format reads: a JSON object holding one is a single row, not a wrapper. */
export function rowKeys(src: SourceFormatOptions): string[] {
  const c = src.columns ?? {};
  switch (src.format) {
    case "alpaca":
      return [c.instruction ?? "instruction", c.output ?? "output"];
    case "sharegpt":
      return [c.messages ?? "conversations"];
    case "messages":
      return [c.messages ?? "messages"];
    case "completion":
      return [c.text ?? "text"];
    case "tokenized":
      return [c.inputIds ?? "input_ids"];
  }
}
