// A folder written whole (a merged model, an adapter, a checkpoint): its files go into a temp sibling
// (`dir.tmp-PID-hex`, which the output folder's cleaner removes after a crash), are synced, and the folder
// is renamed into place. A reader, or a crash at any point, sees the old folder, none, or the whole new one.
import { type Dirent, existsSync } from "node:fs";
import { mkdir, open, readdir, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { tempPath } from "./atomic-write.ts";

/**
 * Runs `write(tmp)` to fill a temp folder, then swaps it in for `dir`: an existing `dir` is moved aside and
 * removed only once the new one is in place. Errors name paths under `dir`, as the user knows them.
 */
export async function writeFolderAtomic<T>(dir: string, write: (tmp: string) => Promise<T>): Promise<T> {
  const tmp = tempPath(dir);
  try {
    await mkdir(dirname(dir), { recursive: true });
    await mkdir(tmp);
    try {
      const result = await write(tmp);
      await syncTree(tmp);
      await swapIn(tmp, dir);
      await syncFolder(dirname(dir));
      return result;
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      throw e;
    }
  } catch (e) {
    throw namingFinal(e, tmp, dir);
  }
}

async function swapIn(tmp: string, dir: string): Promise<void> {
  if (!existsSync(dir)) {
    await rename(tmp, dir);
    return;
  }
  const old = tempPath(dir);
  await rename(dir, old);
  try {
    await rename(tmp, dir);
  } catch (e) {
    await rename(old, dir).catch(() => {});
    throw e;
  }
  await rm(old, { recursive: true, force: true });
}

/** fsync every file and folder under `dir` (copied files were never synced), so the rename publishes data. */
async function syncTree(dir: string): Promise<void> {
  const entries: Dirent[] = await readdir(dir, { withFileTypes: true });
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) await syncTree(path);
    else if (e.isFile()) await syncPath(path);
  }
  await syncFolder(dir);
}

async function syncPath(path: string): Promise<void> {
  const fh = await open(path, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

// Some platforms (Windows) cannot open a folder to sync it; its entries are then as durable as they get.
async function syncFolder(dir: string): Promise<void> {
  await syncPath(dir).catch((e: NodeJS.ErrnoException) => {
    if (!["EISDIR", "EPERM", "EACCES", "EINVAL"].includes(e.code ?? "")) throw e;
  });
}

/** The temp folder's name replaced by the final one in an error's paths and message. */
function namingFinal(e: unknown, tmp: string, dir: string): unknown {
  if (!(e instanceof Error)) return e;
  const fix = (s: string) => s.split(tmp).join(dir);
  const err = e as NodeJS.ErrnoException & { dest?: string };
  if (typeof err.path === "string") err.path = fix(err.path);
  if (typeof err.dest === "string") err.dest = fix(err.dest);
  err.message = fix(err.message);
  return e;
}
