// Stopping a run between steps: the caller's AbortSignal, and Ctrl-C (finish the step, checkpoint, return;
// a second Ctrl-C exits at once).
import type { Progress } from "./progress.ts";

export interface Interrupts {
  signal: AbortSignal;
  /** Removes the listeners (the process keeps no handler of a finished run). */
  dispose(): void;
}

export function watchInterrupts(
  opts: { signal?: AbortSignal; handleSigint?: boolean },
  progress: Progress,
): Interrupts {
  const local = new AbortController();
  const onAbort = () => local.abort();
  opts.signal?.addEventListener("abort", onAbort);
  if (opts.signal?.aborted) local.abort();
  let sigints = 0;
  const onSigint = () => {
    if (++sigints > 1) process.exit(130);
    progress.log("interrupted: writing a checkpoint after this step (Ctrl-C again to quit now)");
    local.abort();
  };
  if (opts.handleSigint !== false) process.on("SIGINT", onSigint);
  return {
    signal: local.signal,
    dispose() {
      process.off("SIGINT", onSigint);
      opts.signal?.removeEventListener("abort", onAbort);
    },
  };
}
