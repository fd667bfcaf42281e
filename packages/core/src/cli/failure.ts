// Ordinary failures (a read-only or full disk, a file where a folder should be, a run that cannot start or
// continue, a damaged file) end a command with one line on stderr; only a bug shows a stack trace.
import { ReadError } from "../data/readers/types.ts";
import { ModelConfigError } from "../model/families/types.ts";
import { SafetensorsError } from "../model/safetensors.ts";
import { CheckpointError } from "../train/checkpoint.ts";
import { TrainError } from "../train/errors.ts";
import { describeFsError } from "../util/fs-errors.ts";

/** The one-line message for an ordinary failure, or null for an unexpected error (a bug). */
export function ordinaryFailure(e: unknown): string | null {
  const fs = describeFsError(e);
  if (fs) return fs;
  if (e instanceof ReadError)
    return e.message.includes(e.file) ? e.message : `${e.file}${e.line ? `:${e.line}` : ""}: ${e.message}`;
  const known = [TrainError, CheckpointError, SafetensorsError, ModelConfigError];
  if (known.some((k) => e instanceof k)) return (e as Error).message;
  return null;
}

/** Prints `sft <command>: <line>` and sets exit code 1 for an ordinary failure; returns false for a bug. */
export function reportFailure(command: string, e: unknown): boolean {
  const line = ordinaryFailure(e);
  if (line === null) return false;
  process.stderr.write(`sft ${command}: ${line}\n`);
  process.exitCode = 1;
  return true;
}
