// Plain data shared by the data pipeline's stages: readers -> formats -> templates/tokens/labels -> mix -> batches.

/** One raw row as read from a file, with where it came from (for messages that name file and place). */
export interface RawRow {
  value: Record<string, unknown>;
  /** Absolute file path. */
  file: string;
  /** 1-based line for JSONL/CSV, 0-based index for JSON arrays and Parquet rows. */
  line?: number;
  index: number;
}

export type Role = "system" | "user" | "assistant" | "tool";

export interface ToolCall {
  type?: "function";
  id?: string;
  function: { name: string; arguments: string | Record<string, unknown> };
}

export interface Message {
  role: Role;
  content: string;
  name?: string;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
}

/** A chat sample after format conversion; `train: false` on an assistant turn keeps it out of the loss. */
export interface Conversation {
  messages: (Message & { train?: boolean })[];
  tools?: unknown[];
}

/** A sample ready for batching: labels are -100 where the loss is masked. */
export interface TokenizedSample {
  inputIds: number[];
  labels: number[];
  /** Where the sample came from: source name and row origin. */
  source: string;
  origin: { file: string; line?: number; index: number };
}

export const IGNORE_INDEX = -100;
