// The one way files are written: a unique temp file beside the target, fsync, then rename. A reader, or a
// crash at any point, sees the old file or the whole new one; never half of one, never an empty one.
import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { type FileHandle, mkdir, open, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";

/** Unique per process and call, so two writers of one path never share a temp file (or folder). */
export function tempPath(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
}

/**
 * Test seam: SFTKIT_FAULT_WRITE="ENOSPC" (or "EROFS", ...; "CODE@text" for paths containing text) makes
 * these writes fail as a full disk or a read-only folder would, which no test can arrange for real.
 */
function injectedFault(path: string): NodeJS.ErrnoException | null {
  const spec = process.env.SFTKIT_FAULT_WRITE;
  if (!spec) return null;
  const [code = "", text] = spec.split("@");
  if (text && !path.includes(text)) return null;
  const e: NodeJS.ErrnoException = new Error(`${code}: injected failure, write`);
  Object.assign(e, { code, syscall: "write" });
  return e;
}

/**
 * Test seam: SFTKIT_FAULT_KILL="N@text" SIGKILLs this process right after its N-th completed write of a path
 * containing text, so a fault-injection test can stop a run at a chosen file of a folder it writes.
 */
let killCount = 0;
function injectedKill(path: string): void {
  const spec = process.env.SFTKIT_FAULT_KILL;
  if (!spec) return;
  const [n = "", text = ""] = spec.split("@");
  if (path.includes(text) && ++killCount === Number(n)) process.kill(process.pid, "SIGKILL");
}

/** A write error names the file being written (a failed `write` carries no path of its own). */
function withPath(e: unknown, path: string, bytes?: number): unknown {
  if (e instanceof Error && typeof (e as NodeJS.ErrnoException).code === "string") {
    const err = e as NodeJS.ErrnoException & { bytesNeeded?: number };
    err.path ??= path;
    if (bytes !== undefined) err.bytesNeeded ??= bytes;
  }
  return e;
}

/** For content written in pieces (e.g. tensors one at a time): `write` fills the temp file's handle. */
export async function writeAtomicWith(
  path: string,
  write: (fh: FileHandle) => Promise<void>,
  bytes?: number,
): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true });
    const tmp = tempPath(path);
    const fh = await open(tmp, "w");
    try {
      const fault = injectedFault(path);
      if (fault) throw fault;
      await write(fh);
      await fh.sync();
      await fh.close();
      await rename(tmp, path);
      injectedKill(path);
    } catch (e) {
      await fh.close().catch(() => {});
      await rm(tmp, { force: true });
      throw e;
    }
  } catch (e) {
    throw withPath(e, path, bytes);
  }
}

export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await writeAtomicWith(path, (fh) => fh.writeFile(data), Buffer.byteLength(data));
}

/** Pretty-printed JSON with a final newline, as every JSON file of a run is written. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** The same for synchronous callers (set-up code that runs before anything is awaited). */
export function writeFileAtomicSync(path: string, data: string | Uint8Array): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
    const tmp = tempPath(path);
    const fd = openSync(tmp, "w");
    try {
      const fault = injectedFault(path);
      if (fault) throw fault;
      writeFileSync(fd, data);
      fsyncSync(fd);
    } catch (e) {
      closeSync(fd);
      rmSync(tmp, { force: true });
      throw e;
    }
    closeSync(fd);
    try {
      renameSync(tmp, path);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
  } catch (e) {
    throw withPath(e, path, Buffer.byteLength(data));
  }
}
