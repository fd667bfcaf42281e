import type { RawRow } from "../types.ts";

export type FileType = "jsonl" | "json" | "parquet" | "csv";

/** A row, or a row that could not be read (bad JSON, wrong shape); the caller applies the bad-row policy. */
export type ReadItem =
  | { kind: "row"; row: RawRow }
  | { kind: "bad"; file: string; line?: number; index: number; field?: string; message: string };

/** The row of an item; null for a row that could not be read. */
export function rowOf(item: ReadItem): RawRow | null {
  switch (item.kind) {
    case "row":
      return item.row;
    case "bad":
      return null;
  }
}

export interface ReadOptions {
  /** Stop after this many rows from this file. */
  limit?: number;
  /** Column names the format reads: a JSON object holding one of them is one row, not a wrapper. */
  rowKeys?: readonly string[];
}

/** A file-level failure (unreadable, unparseable, not a list of rows). */
export class ReadError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly line?: number,
  ) {
    super(message);
    this.name = "ReadError";
  }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
