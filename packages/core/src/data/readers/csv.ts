import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { parse } from "csv-parse";
import { ReadError, type ReadItem, type ReadOptions } from "./types.ts";
import { fileFault, utf8Message } from "./utf8.ts";

interface CsvRecord {
  record: Record<string, string>;
  info: { lines: number };
  raw: string;
}

/** CSV with a header row; each record's line is where it starts. */
export async function* readCsv(file: string, opts: ReadOptions = {}): AsyncGenerator<ReadItem> {
  const limit = opts.limit ?? Number.POSITIVE_INFINITY;
  // The parser would decode a bad byte to U+FFFD without a word: check the file first.
  const fault = await fileFault(file);
  if (fault) throw new ReadError(utf8Message(fault), file, fault.line);
  const parser = createReadStream(file).pipe(
    parse({ columns: true, bom: true, info: true, raw: true, skip_empty_lines: true, relax_quotes: true }),
  );
  let index = 0;
  // The line the last record ended on (the header's, first): an unclosed quote opens the record after it.
  let lastEnd = 1;
  try {
    for await (const item of parser as AsyncIterable<CsvRecord>) {
      if (index >= limit) break;
      // info.lines is where the record ends; a quoted field may span lines.
      const inner = item.raw.replace(/\r?\n$/, "").split("\n").length - 1;
      yield { kind: "row", row: { value: item.record, file, line: item.info.lines - inner, index: index++ } };
      lastEnd = item.info.lines;
    }
  } catch (e) {
    const err = e as Error & { lines?: number; code?: string };
    // The parser reports an open quote where the file ends; the record that opened it is what to fix.
    if (err.code === "CSV_QUOTE_NOT_CLOSED") {
      const line = await firstFilledLineAfter(file, lastEnd);
      throw new ReadError(
        `CSV: the quote that opens the record on line ${line} is never closed (the file ends inside it)`,
        file,
        line,
      );
    }
    throw new ReadError(`CSV: ${err.message}`, file, err.lines);
  } finally {
    parser.destroy();
  }
}

/** 1-based number of the first non-blank line after line `after` (the record skip_empty_lines starts on). */
async function firstFilledLineAfter(file: string, after: number): Promise<number> {
  const lines = (await readFile(file, "utf8")).split("\n");
  for (let i = after; i < lines.length; i++) if (lines[i]!.trim() !== "") return i + 1;
  return after + 1;
}

export async function countCsvRows(file: string): Promise<number> {
  let n = 0;
  for await (const _ of readCsv(file)) n++;
  return n;
}
