import { createReadStream } from "node:fs";
import { isRecord, type ReadItem, type ReadOptions } from "./types.ts";

/** Lines of a UTF-8 file, streamed; yields [1-based line number, text]. */
export async function* readLines(file: string): AsyncGenerator<[number, string]> {
  let rest = "";
  let line = 0;
  for await (const chunk of createReadStream(file, { encoding: "utf8", highWaterMark: 1 << 20 })) {
    const text = rest + (chunk as string);
    let start = 0;
    for (let nl = text.indexOf("\n", start); nl !== -1; nl = text.indexOf("\n", start)) {
      line++;
      yield [line, text.slice(start, nl)];
      start = nl + 1;
    }
    rest = text.slice(start);
  }
  if (rest.length > 0) yield [line + 1, rest];
}

export async function* readJsonl(file: string, opts: ReadOptions = {}): AsyncGenerator<ReadItem> {
  let index = 0;
  const limit = opts.limit ?? Number.POSITIVE_INFINITY;
  for await (const [line, raw] of readLines(file)) {
    if (index >= limit) return;
    const text = line === 1 ? raw.replace(/^\uFEFF/, "") : raw;
    if (text.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      yield { kind: "bad", file, line, index: index++, message: `invalid JSON: ${(e as Error).message}` };
      continue;
    }
    if (!isRecord(value)) {
      yield {
        kind: "bad",
        file,
        line,
        index: index++,
        message: `expected a JSON object, got ${describe(value)}`,
      };
      continue;
    }
    yield { kind: "row", row: { value, file, line, index: index++ } };
  }
}

/** Non-empty lines, counted without parsing. */
export async function countJsonlRows(file: string): Promise<number> {
  let n = 0;
  for await (const [, raw] of readLines(file)) if (raw.trim() !== "") n++;
  return n;
}

export function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return `a string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `a ${typeof v}`;
}
