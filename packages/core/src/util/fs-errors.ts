// Ordinary file-system failures (a read-only folder, a full disk, a file where a folder is expected) as one
// line that names the path, so the CLI prints that instead of a stack trace.
import { existsSync, statfsSync } from "node:fs";
import { dirname } from "node:path";
import { formatBytes } from "./format.ts";

/** A Node system error: `code` and usually the `path` it concerns; `bytesNeeded` is set by util/atomic-write. */
export interface SystemError extends Error {
  code: string;
  syscall?: string;
  path?: string;
  dest?: string;
  bytesNeeded?: number;
}

const REASONS: Record<string, string> = {
  EROFS: "the file system is read-only",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  ENOSPC: "no space left on the device",
  EDQUOT: "the disk quota is exhausted",
  ENOTDIR: "a part of the path is a file, not a folder",
  EISDIR: "it is a folder, not a file",
  EEXIST: "a file of that name is in the way",
  ENOENT: "no such file or folder",
  ENAMETOOLONG: "the name is too long",
  ELOOP: "too many symbolic links",
  EMFILE: "too many open files",
  EIO: "an input/output error of the device",
};

const VERBS: Record<string, string> = {
  mkdir: "cannot create the folder",
  read: "cannot read",
  scandir: "cannot list",
  stat: "cannot read",
  lstat: "cannot read",
  write: "cannot write",
  rename: "cannot write",
  unlink: "cannot remove",
  rmdir: "cannot remove",
  rm: "cannot remove",
  copyfile: "cannot copy",
  fsync: "cannot write",
};

// util/atomic-write's temp names (`name.tmp-PID-hex`): the user knows the file by its final name.
const TEMP_SUFFIX = /\.tmp-\d+-[0-9a-f]{8}$/;

export function isSystemError(e: unknown): e is SystemError {
  return (
    e instanceof Error &&
    typeof (e as { code?: unknown }).code === "string" &&
    /^E[A-Z]+$/.test((e as SystemError).code)
  );
}

/**
 * Bytes free to this user on the disk that holds `path` (its nearest existing folder), or null if unknown.
 * Test seam: SFTKIT_FAULT_FREE_BYTES=N pretends the disk has N bytes free.
 */
export function freeBytesAt(path: string): number | null {
  const pretend = process.env.SFTKIT_FAULT_FREE_BYTES;
  if (pretend !== undefined && pretend !== "") return Number(pretend);
  let dir = path;
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return null;
  }
}

/** One line for an ordinary file-system failure (path, reason, code), or null for anything else. */
export function describeFsError(e: unknown): string | null {
  if (!isSystemError(e)) return null;
  const reason = REASONS[e.code];
  if (!reason) return null;
  const path = e.path?.replace(TEMP_SUFFIX, "");
  const verb =
    (e.syscall && VERBS[e.syscall]) ??
    (e.code === "ENOSPC" || e.code === "EROFS" ? "cannot write" : "cannot open");
  let line = path
    ? `${verb} ${path}: ${reason} (${e.code})`
    : `${reason} (${e.code}${e.syscall ? ` in ${e.syscall}` : ""})`;
  if ((e.code === "ENOSPC" || e.code === "EDQUOT") && path) {
    const free = freeBytesAt(path);
    const needed = e.bytesNeeded !== undefined ? `${formatBytes(e.bytesNeeded)} needed` : null;
    const parts = [needed, free !== null ? `${formatBytes(free)} free there` : null].filter(Boolean);
    if (parts.length) line += `; ${parts.join(", ")}`;
  }
  return line;
}
