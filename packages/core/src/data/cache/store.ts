import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
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
 * Writes to a temp file in the same folder, then renames: a process killed mid-write leaves only a temp file,
 * which readers never open (and the checksum rejects a torn final file anyway).
 */
export async function writeEntry<M>(
  cacheDir: string,
  key: string,
  meta: M,
  samples: TokenizedSample[],
  source: string,
): Promise<void> {
  const path = entryPath(cacheDir, key);
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  await mkdir(join(cacheDir, "data"), { recursive: true });
  try {
    await writeFile(tmp, encodeEntry(meta, samples, source));
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
