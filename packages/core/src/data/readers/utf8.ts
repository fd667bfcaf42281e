// Strict UTF-8: a byte that is not valid UTF-8 is named by line and byte, never decoded to U+FFFD and trained.
import { isUtf8 } from "node:buffer";
import { createReadStream } from "node:fs";

/** Where the first invalid byte sits: 1-based line, 1-based byte within that line, and the byte itself. */
export interface Utf8Fault {
  line: number;
  byte: number;
  value: number;
}

/**
 * Index of the first byte that starts an invalid sequence, -1 when all is valid. With `final` false, a
 * sequence cut by the end of `bytes` is not an error: -(its start) - 2 is returned so the caller can carry it.
 */
export function invalidUtf8At(bytes: Uint8Array, final = true): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let n: number;
    let min: number;
    if (b >= 0xc2 && b <= 0xdf) [n, min] = [1, 0x80];
    else if (b >= 0xe0 && b <= 0xef) [n, min] = [2, 0x800];
    else if (b >= 0xf0 && b <= 0xf4) [n, min] = [3, 0x10000];
    else return i;
    if (i + n >= bytes.length) {
      // Too few bytes left: an error at the end of the input, else a tail the caller carries over.
      for (let k = i + 1; k < bytes.length; k++) if ((bytes[k]! & 0xc0) !== 0x80) return i;
      return final ? i : -i - 2;
    }
    let cp = b & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const c = bytes[i + k]!;
      if ((c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return -1;
}

/** The fault of one line's bytes (line numbers are the caller's). */
export function lineFault(bytes: Uint8Array, line: number): Utf8Fault | null {
  if (isUtf8(bytes)) return null;
  const at = Math.max(0, invalidUtf8At(bytes));
  return { line, byte: at + 1, value: bytes[at] ?? 0 };
}

/** The first invalid byte of a whole buffer, by line. */
export function bufferFault(bytes: Uint8Array): Utf8Fault | null {
  if (isUtf8(bytes)) return null;
  return locate(bytes, Math.max(0, invalidUtf8At(bytes)), 1, 0);
}

/** The first invalid byte of a file, streamed (CSV is parsed by a library that would replace it silently). */
export async function fileFault(file: string): Promise<Utf8Fault | null> {
  let line = 1;
  // Bytes of the current line before the buffer being checked.
  let column = 0;
  let carry: Uint8Array = new Uint8Array(0);
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    const bytes = carry.length ? Buffer.concat([carry, chunk as Buffer]) : (chunk as Buffer);
    const at = invalidUtf8At(bytes, false);
    if (at >= 0) return locate(bytes, at, line, column);
    const end = at === -1 ? bytes.length : -at - 2;
    for (let k = 0; k < end; k++) {
      column++;
      if (bytes[k] === 0x0a) {
        line++;
        column = 0;
      }
    }
    carry = bytes.subarray(end);
  }
  return carry.length ? { line, byte: column + 1, value: carry[0]! } : null;
}

function locate(bytes: Uint8Array, at: number, firstLine: number, column: number): Utf8Fault {
  let line = firstLine;
  let lineStart = -column;
  for (let k = 0; k < at; k++) {
    if (bytes[k] === 0x0a) {
      line++;
      lineStart = k + 1;
    }
  }
  return { line, byte: at - lineStart + 1, value: bytes[at] ?? 0 };
}

/** The message for a fault (the caller puts file:line in front). */
export function utf8Message(f: Utf8Fault): string {
  const hex = f.value.toString(16).toUpperCase().padStart(2, "0");
  return `invalid UTF-8 at byte ${f.byte} of the line (0x${hex}); data files must be UTF-8 (re-encode it, e.g. \`iconv -f latin1 -t utf-8\`)`;
}
