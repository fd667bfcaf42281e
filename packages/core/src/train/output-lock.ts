// One run per output folder: a lock file naming the run (PID, host, start) taken before anything is written.
// A lock whose process is gone (same host, PID not alive) is stale and taken over; kill -9 leaves such locks.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { TrainError } from "./errors.ts";

export const LOCK_FILE = ".sft-run.lock";

export interface LockInfo {
  pid: number;
  host: string;
  started: string;
  command: string;
}

export class OutputLockedError extends TrainError {
  override name = "OutputLockedError";
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function readLock(path: string): LockInfo | null {
  try {
    const info = JSON.parse(readFileSync(path, "utf8")) as Partial<LockInfo>;
    return typeof info.pid === "number" && typeof info.host === "string" ? (info as LockInfo) : null;
  } catch {
    return null;
  }
}

/** Takes `outDir`'s lock (synchronously: a second run started in the same tick already sees it); returns its release. */
export function acquireOutputLock(outDir: string): () => void {
  mkdirSync(outDir, { recursive: true });
  const path = join(outDir, LOCK_FILE);
  const mine: LockInfo = {
    pid: process.pid,
    host: hostname(),
    started: new Date().toISOString(),
    command: process.argv.slice(1).join(" "),
  };
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, "wx");
      try {
        writeSync(fd, `${JSON.stringify(mine)}\n`);
      } finally {
        closeSync(fd);
      }
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) throw e;
      const held = readLock(path);
      // A lock being written this instant reads as empty: only an old unreadable one is stale.
      const unreadableAndOld = !held && Date.now() - statSync(path).mtimeMs > 10_000;
      const stale = held ? held.host === mine.host && !alive(held.pid) : unreadableAndOld;
      if (!stale)
        throw new OutputLockedError(
          held
            ? `${outDir} is in use by another run (PID ${held.pid} on ${held.host}, started ${held.started}: ${held.command}); wait for it to finish or stop it. If that run is gone, delete ${path}`
            : `${outDir} is in use by another run (${path} exists); if no run is using it, delete that file`,
        );
      rmSync(path, { force: true });
    }
  }
  return () => {
    // Only our own lock is removed (a stale-lock takeover by another run must not be undone).
    if (readLock(path)?.pid === process.pid) rmSync(path, { force: true });
  };
}

/** Whether a live run holds `outDir`'s lock now (a lock left by a killed run does not count). */
export function lockHeld(outDir: string): boolean {
  const info = readLock(join(outDir, LOCK_FILE));
  if (!info) return false;
  return info.host !== hostname() || alive(info.pid);
}
