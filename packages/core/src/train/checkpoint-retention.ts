// Checkpoint retention: the newest `keep` checkpoints plus the one with the best eval loss stay; older
// ones are deleted as new ones are written, so a long run does not fill the disk.
import { existsSync, readFileSync } from "node:fs";
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { checkpointsDir } from "./checkpoint.ts";

/** Eval loss by step, from metrics.jsonl (the last entry of a step wins). */
function evalLosses(metricsFile: string): Map<number, number> {
  const losses = new Map<number, number>();
  if (!existsSync(metricsFile)) return losses;
  for (const line of readFileSync(metricsFile, "utf8").split("\n")) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as { step?: number; evalLoss?: number };
      if (typeof e.step === "number" && typeof e.evalLoss === "number" && Number.isFinite(e.evalLoss))
        losses.set(e.step, e.evalLoss);
    } catch {
      // A torn last line (a kill mid-append) holds no evaluation to keep.
    }
  }
  return losses;
}

/** Deletes checkpoints beyond the newest `keep` and the best by eval loss; returns the deleted folders. */
export async function pruneCheckpoints(outDir: string, keep: number, metricsFile: string): Promise<string[]> {
  const root = checkpointsDir(outDir);
  const steps = (await readdir(root).catch(() => [] as string[]))
    .map((n) => /^step-(\d+)$/.exec(n)?.[1])
    .filter((s) => s !== undefined)
    .map(Number)
    .sort((a, b) => b - a);
  const kept = new Set(steps.slice(0, Math.max(1, keep)));
  const losses = evalLosses(metricsFile);
  let best: number | null = null;
  for (const s of steps) {
    const loss = losses.get(s);
    if (loss !== undefined && (best === null || loss < losses.get(best)!)) best = s;
  }
  if (best !== null) kept.add(best);
  const removed: string[] = [];
  for (const s of steps)
    if (!kept.has(s)) {
      const dir = join(root, `step-${s}`);
      await rm(dir, { recursive: true, force: true });
      removed.push(dir);
    }
  return removed;
}
