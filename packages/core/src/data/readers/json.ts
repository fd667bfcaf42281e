import { readFile } from "node:fs/promises";
import { describe } from "./jsonl.ts";
import { isRecord, ReadError, type ReadItem, type ReadOptions } from "./types.ts";
import { bufferFault, utf8Message } from "./utf8.ts";

/** The rows of a JSON file: an array, an object holding one array, or a single row object. */
export async function loadJsonRows(file: string, opts: ReadOptions = {}): Promise<unknown[]> {
  const bytes = await readFile(file);
  const fault = bufferFault(bytes);
  if (fault) throw new ReadError(utf8Message(fault), file, fault.line);
  const text = bytes.toString("utf8").replace(/^\uFEFF/, "");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ReadError(`invalid JSON: ${(e as Error).message}`, file);
  }
  if (Array.isArray(value)) return value;
  if (!isRecord(value)) throw new ReadError(`expected an array of rows, got ${describe(value)}`, file);
  // An object with a column the format reads is itself one row (e.g. {"conversations": [...]}).
  if (opts.rowKeys?.some((k) => k in value)) return [value];
  const arrays = Object.entries(value).filter(([, v]) => Array.isArray(v));
  if (arrays.length === 1) return arrays[0]![1] as unknown[];
  const keys = arrays.map(([k]) => k).join(", ");
  throw new ReadError(
    arrays.length === 0
      ? "expected an array of rows, or an object holding one array; found an object with no array"
      : `expected an object holding one array of rows; found ${arrays.length} (${keys})`,
    file,
  );
}

export async function* readJson(file: string, opts: ReadOptions = {}): AsyncGenerator<ReadItem> {
  const rows = await loadJsonRows(file, opts);
  const n = Math.min(rows.length, opts.limit ?? rows.length);
  for (let index = 0; index < n; index++) {
    const value = rows[index];
    if (isRecord(value)) yield { kind: "row", row: { value, file, index } };
    else yield { kind: "bad", file, index, message: `expected a JSON object, got ${describe(value)}` };
  }
}
