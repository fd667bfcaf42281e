import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../../util/atomic-write.ts";
import { freeBytesAt } from "../../util/fs-errors.ts";
import type { TokenizedSample } from "../types.ts";
import { decodeEntry, encodeEntry } from "./codec.ts";

export function entryPath(cacheDir: string, key: string): string {
  return join(cacheDir, "data", `${key}.bin`);
}

/** A cached entry, or null on a miss; an unreadable or damaged entry is a miss, never an error. */
export async function readEntry<M>(
  cacheDir: string,
  key: string,
): Promise<{ meta: M; samples: TokenizedSample[] } | null> {
  let buf: Buffer;
  try {
    buf = await readFile(entryPath(cacheDir, key));
  } catch {
    return null;
  }
  const entry = decodeEntry<M>(buf);
  return entry ? { meta: entry.meta, samples: entry.samples } : null;
}

/**
 * Written atomically (util/atomic-write): a process killed mid-write leaves only a temp file,
 * which readers never open (and the checksum rejects a torn final file anyway). A disk with less free than
 * the entry is refused before a byte is written (ENOSPC naming the entry and the bytes it needs).
 */
export async function writeEntry<M>(
  cacheDir: string,
  key: string,
  meta: M,
  samples: TokenizedSample[],
  source: string,
): Promise<void> {
  const path = entryPath(cacheDir, key);
  const bytes = encodeEntry(meta, samples, source);
  const free = freeBytesAt(path);
  if (free !== null && free < bytes.length)
    throw Object.assign(new Error(`ENOSPC: no space left on device, write '${path}'`), {
      code: "ENOSPC",
      syscall: "write",
      path,
      bytesNeeded: bytes.length,
    });
  await writeFileAtomic(path, bytes);
}
