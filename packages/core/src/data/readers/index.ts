import { countCsvRows, readCsv } from "./csv.ts";
import { loadJsonRows, readJson } from "./json.ts";
import { countJsonlRows, readJsonl } from "./jsonl.ts";
import { countParquetRows, readParquet } from "./parquet.ts";
import { fileTypeOf } from "./resolve.ts";
import { type FileType, ReadError, type ReadItem, type ReadOptions } from "./types.ts";

export { type DataProblem, formatProblem } from "./problems.ts";
export { fileTypeOf, type ResolvedFiles, resolveFiles } from "./resolve.ts";
export { type FileType, ReadError, type ReadItem, type ReadOptions, rowOf } from "./types.ts";

function pick(file: string, fileType: FileType | "auto"): FileType {
  const type = fileType === "auto" ? fileTypeOf(file) : fileType;
  if (!type)
    throw new ReadError("unknown file type (use .jsonl, .json, .parquet or .csv, or set `fileType`)", file);
  return type;
}

/** Rows of one file; file-level failures throw ReadError while iterating. */
export async function* readRows(
  file: string,
  fileType: FileType | "auto" = "auto",
  opts: ReadOptions = {},
): AsyncGenerator<ReadItem> {
  const type = pick(file, fileType);
  if (type === "jsonl") yield* readJsonl(file, opts);
  else if (type === "json") yield* readJson(file, opts);
  else if (type === "parquet") yield* readParquet(file, opts);
  else yield* readCsv(file, opts);
}

/** Row count without converting rows (Parquet: from the footer; JSONL: non-empty lines). */
export async function countRows(
  file: string,
  fileType: FileType | "auto" = "auto",
  opts: ReadOptions = {},
): Promise<number> {
  const type = pick(file, fileType);
  if (type === "jsonl") return countJsonlRows(file);
  if (type === "json") return (await loadJsonRows(file, opts)).length;
  if (type === "parquet") return countParquetRows(file);
  return countCsvRows(file);
}
