// Which checkpoint a resume trusts: the newest one whose files match their checksums, parse, fit this run
// and hold only finite values. Damaged ones are skipped, saying which and why; none intact is an error.
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type { TensorShape, TrainableState } from "../engines/engine.ts";
import { firstNonFinite } from "../util/finite.ts";
import { type CheckpointState, checkpointsDir, readCheckpoint } from "./checkpoint.ts";
import { checksumProblem } from "./checksums.ts";
import { TrainError } from "./errors.ts";

export interface IntactCheckpoint {
  dir: string;
  state: CheckpointState;
  trainable: TrainableState;
}

function nonFiniteProblem(t: TrainableState): string | null {
  const parts: [string, ReadonlyMap<string, Float32Array> | null][] = [
    ["weights", new Map(t.weights.map((w) => [w.name, w.data]))],
    ["optimizer moment m", t.optimizer.m],
    ["optimizer moment v", t.optimizer.v],
  ];
  for (const [what, tensors] of parts)
    for (const [name, data] of tensors ?? []) {
      const at = firstNonFinite(data);
      if (at >= 0) return `${what} of "${name}" holds ${data[at]} at index ${at}`;
    }
  return null;
}

async function checkpointSteps(outDir: string): Promise<number[]> {
  const names = await readdir(checkpointsDir(outDir)).catch(() => [] as string[]);
  return names
    .map((n) => /^step-(\d+)$/.exec(n)?.[1])
    .filter((s) => s !== undefined)
    .map(Number)
    .sort((a, b) => b - a);
}

/** Why checkpoint `dir` cannot be resumed from, or its contents. */
async function openCheckpoint(
  dir: string,
  expected: readonly TensorShape[],
): Promise<{ problem: string } | { found: IntactCheckpoint }> {
  const bad = await checksumProblem(dir);
  if (bad) return { problem: bad };
  try {
    const { state, trainable } = await readCheckpoint(dir, expected);
    const nonFinite = nonFiniteProblem(trainable);
    if (nonFinite) return { problem: nonFinite };
    return { found: { dir, state, trainable } };
  } catch (e) {
    return { problem: (e as Error).message.replace(`${dir}: `, "") };
  }
}

/**
 * The newest intact checkpoint in `outDir` (null when there are none at all). Skipped ones are reported
 * through `log`; when every one is damaged, a TrainError lists them all.
 */
export async function findIntactCheckpoint(
  outDir: string,
  expected: readonly TensorShape[],
  log: (message: string) => void,
): Promise<IntactCheckpoint | null> {
  const skipped: string[] = [];
  for (const step of await checkpointSteps(outDir)) {
    const dir = join(checkpointsDir(outDir), `step-${step}`);
    const r = await openCheckpoint(dir, expected);
    if ("found" in r) {
      if (skipped.length)
        log(`checkpoint step-${step} is the newest intact one; skipped ${skipped.join("; ")}`);
      return r.found;
    }
    skipped.push(`step-${step} (${r.problem})`);
  }
  if (skipped.length)
    throw new TrainError(
      `no intact checkpoint in ${checkpointsDir(outDir)}: ${skipped.join("; ")}. Start over with --overwrite (they are kept aside)`,
    );
  return null;
}
