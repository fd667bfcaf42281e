// Checksums of a checkpoint's files (checksums.json: sha256 and size of each), written last, so a damaged
// or half-copied checkpoint is told apart from a whole one before it is trusted.
import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { writeJsonAtomic } from "../util/atomic-write.ts";

export const CHECKSUMS = "checksums.json";

interface Checksums {
  version: 1;
  files: Record<string, { sha256: string; bytes: number }>;
}

async function sha256(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Records the sha256 and size of `files` (names inside `dir`) in `dir/checksums.json`. */
export async function writeChecksums(dir: string, files: readonly string[]): Promise<void> {
  const out: Checksums = { version: 1, files: {} };
  for (const f of files) {
    const path = join(dir, f);
    out.files[f] = { sha256: await sha256(path), bytes: (await stat(path)).size };
  }
  await writeJsonAtomic(join(dir, CHECKSUMS), out);
}

/**
 * Why `dir` fails its checksums (a missing, resized or changed file, or an unreadable checksums.json), or
 * null when every file matches. A folder without checksums.json (written before they existed) passes.
 */
export async function checksumProblem(dir: string): Promise<string | null> {
  const path = join(dir, CHECKSUMS);
  if (!existsSync(path)) return null;
  let sums: Checksums;
  try {
    sums = JSON.parse(await readFile(path, "utf8")) as Checksums;
    if (typeof sums.files !== "object" || sums.files === null) throw new Error("no file list");
  } catch (e) {
    return `${CHECKSUMS} is unreadable (${(e as Error).message})`;
  }
  for (const [name, want] of Object.entries(sums.files)) {
    const file = join(dir, name);
    if (!existsSync(file)) return `${name} is missing`;
    const bytes = (await stat(file)).size;
    if (bytes !== want.bytes) return `${name} has ${bytes} bytes, ${want.bytes} were written`;
    if ((await sha256(file)) !== want.sha256) return `${name} does not match its checksum`;
  }
  return null;
}
