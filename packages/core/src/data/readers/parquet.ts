import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import { isRecord, ReadError, type ReadItem, type ReadOptions } from "./types.ts";

/** Rows of a Parquet file (snappy, zstd, gzip, brotli, lz4), one row group at a time to bound memory. */
export async function* readParquet(file: string, opts: ReadOptions = {}): AsyncGenerator<ReadItem> {
  let buffer: Awaited<ReturnType<typeof asyncBufferFromFile>>;
  let metadata: Awaited<ReturnType<typeof parquetMetadataAsync>>;
  try {
    buffer = await asyncBufferFromFile(file);
    metadata = await parquetMetadataAsync(buffer);
  } catch (e) {
    throw new ReadError(`not a readable Parquet file: ${(e as Error).message}`, file);
  }
  const total = Math.min(Number(metadata.num_rows), opts.limit ?? Number.POSITIVE_INFINITY);
  let start = 0;
  for (const group of metadata.row_groups) {
    if (start >= total) return;
    const end = Math.min(start + Number(group.num_rows), total);
    let rows: Record<string, unknown>[];
    try {
      rows = await parquetReadObjects({ file: buffer, metadata, compressors, rowStart: start, rowEnd: end });
    } catch (e) {
      throw new ReadError(`Parquet rows ${start}-${end - 1}: ${(e as Error).message}`, file);
    }
    for (let i = 0; i < rows.length; i++) {
      const value = plain(rows[i]);
      if (isRecord(value)) yield { kind: "row", row: { value, file, index: start + i } };
    }
    start = end;
  }
}

export async function countParquetRows(file: string): Promise<number> {
  try {
    return Number((await parquetMetadataAsync(await asyncBufferFromFile(file))).num_rows);
  } catch (e) {
    throw new ReadError(`not a readable Parquet file: ${(e as Error).message}`, file);
  }
}

/** BigInt (INT64) to number where exact, typed arrays to arrays: rows become plain JSON-like values. */
function plain(v: unknown): unknown {
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (Array.isArray(v)) return v.map(plain);
  if (ArrayBuffer.isView(v) && !(v instanceof DataView))
    return Array.from(v as unknown as ArrayLike<number>, plain);
  if (isRecord(v) && !(v instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = plain(x);
    return out;
  }
  return v;
}
