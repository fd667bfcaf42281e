import { createReadStream } from "node:fs";
import { isRecord, type ReadItem, type ReadOptions } from "./types.ts";
import { lineFault, type Utf8Fault, utf8Message } from "./utf8.ts";

/** Lines of a UTF-8 file, streamed; yields [1-based line number, text], or the line's invalid UTF-8. */
export async function* readLines(file: string): AsyncGenerator<[number, string, Utf8Fault | null]> {
  let rest: Buffer = Buffer.alloc(0);
  let line = 0;
  const decode = (bytes: Buffer): [number, string, Utf8Fault | null] => {
    line++;
    const fault = lineFault(bytes, line);
    return [line, fault ? "" : bytes.toString("utf8"), fault];
  };
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    const bytes = rest.length ? Buffer.concat([rest, chunk as Buffer]) : (chunk as Buffer);
    let start = 0;
    for (let nl = bytes.indexOf(0x0a, start); nl !== -1; nl = bytes.indexOf(0x0a, start)) {
      yield decode(bytes.subarray(start, nl));
      start = nl + 1;
    }
    rest = bytes.subarray(start);
  }
  if (rest.length > 0) yield decode(rest);
}

export async function* readJsonl(file: string, opts: ReadOptions = {}): AsyncGenerator<ReadItem> {
  let index = 0;
  const limit = opts.limit ?? Number.POSITIVE_INFINITY;
  for await (const [line, raw, fault] of readLines(file)) {
    if (index >= limit) return;
    if (fault) {
      yield { kind: "bad", file, line, index: index++, message: utf8Message(fault) };
      continue;
    }
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
  for await (const [, raw, fault] of readLines(file)) if (fault || raw.trim() !== "") n++;
  return n;
}

export function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return `a string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `a ${typeof v}`;
}
