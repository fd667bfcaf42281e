// Guards on an output folder before a run writes to it: no fresh run silently replaces an earlier run's
// checkpoints, and temp files and folders left by crashed runs are removed (the lock says no run owns them).
import { existsSync } from "node:fs";
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { checkpointsDir } from "./checkpoint.ts";
import { TrainError } from "./errors.ts";

/** Highest `step-N` folder under `checkpoints/`, complete or not, or null. */
async function newestCheckpointName(outDir: string): Promise<string | null> {
  const names = await readdir(checkpointsDir(outDir)).catch(() => [] as string[]);
  const steps = names.map((n) => /^step-(\d+)$/.exec(n)?.[1]).filter((s) => s !== undefined);
  return steps.length ? `step-${Math.max(...steps.map(Number))}` : null;
}

/** A fresh run over a folder with checkpoints needs `overwrite` (or `resume`): one slip must not retire them. */
export async function refuseFreshOverExisting(
  outDir: string,
  opts: { resume?: boolean; overwrite?: boolean },
): Promise<void> {
  if (opts.resume || opts.overwrite) return;
  const newest = await newestCheckpointName(outDir);
  if (newest)
    throw new TrainError(
      `${outDir} holds an earlier run's checkpoints (newest ${newest}): continue it with --resume, or start over with --overwrite (the earlier checkpoints are then kept in ${checkpointsDir(outDir)}.previous*)`,
    );
}

// util/atomic-write and util/atomic-folder temps (`name.tmp-PID-hex`: files, model/adapter/checkpoint folders)
// and the checkpoint temp folders of earlier versions (`.tmp-step-N-PID`, `.old-step-N-PID`).
const TEMP = /(\.tmp-\d+-[0-9a-f]{8}$)|(^\.(tmp|old)-step-\d+-\d+$)/;

/** Removes what crashed runs left in `outDir` (top level, checkpoints/ and the artefact folders); returns the paths. */
export async function removeStaleTemps(outDir: string): Promise<string[]> {
  const removed: string[] = [];
  const sweep = async (dir: string, depth: number): Promise<void> => {
    if (!existsSync(dir)) return;
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (TEMP.test(e.name)) {
        await rm(path, { recursive: true, force: true });
        removed.push(path);
      } else if (e.isDirectory() && depth > 0 && !e.name.startsWith(".") && e.name !== "node_modules")
        await sweep(path, depth - 1);
    }
  };
  // Two levels: checkpoints/step-N/ and adapter/, model/ hold every file a run writes.
  await sweep(outDir, 2);
  return removed;
}
