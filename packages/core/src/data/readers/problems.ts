// Where a data problem sits, so a message can name file, line or row, and field.

export interface DataProblem {
  source: string;
  file: string;
  /** 1-based line (JSONL/CSV). */
  line?: number;
  /** 0-based row index (JSON arrays, Parquet). */
  index?: number;
  /** Dotted path inside the row, e.g. `conversations[2].from`. */
  field?: string;
  message: string;
}

/** `file:12: field "x": message` (line), `file#3: ...` (row index) or `file: message`. */
export function formatProblem(p: Omit<DataProblem, "source"> & { source?: string }): string {
  const where =
    p.line !== undefined ? `${p.file}:${p.line}` : p.index !== undefined ? `${p.file}#${p.index}` : p.file;
  const field = p.field ? ` field "${p.field}":` : "";
  const source = p.source ? ` (source "${p.source}")` : "";
  return `${where}:${field} ${p.message}${source}`;
}
