// run.json: what became of a run folder's run (running, interrupted, finished, failed) and its final numbers,
// so `sft runs`, `sft compare` and sweeps read them back without the process that trained.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../util/atomic-write.ts";

export const RUN_STATUS_FILE = "run.json";

export type RunState = "running" | "interrupted" | "finished" | "failed";

export interface RunStatus {
  status: RunState;
  planHash: string;
  startedAt: string;
  endedAt: string | null;
  /** Wall-clock seconds over every session of the run (resumes add to it). */
  wallSeconds: number;
  steps: number | null;
  loss: number | null;
  evalLoss: number | null;
  probeRecall: number | null;
  tokensPerSecond: number | null;
  /** The highest peak resident memory of any session (bytes). */
  peakRssBytes: number | null;
  error: string | null;
}

export function readRunStatus(outDir: string): RunStatus | null {
  const file = join(outDir, RUN_STATUS_FILE);
  if (!existsSync(file)) return null;
  try {
    const v = JSON.parse(readFileSync(file, "utf8")) as RunStatus;
    return typeof v === "object" && v !== null && typeof v.status === "string" ? v : null;
  } catch {
    return null;
  }
}

export async function writeRunStatus(outDir: string, status: RunStatus): Promise<void> {
  await writeFileAtomic(join(outDir, RUN_STATUS_FILE), `${JSON.stringify(status, null, 2)}\n`);
}

/** Records a session of a run: `running` now, then how it ended (see `end`). */
export async function startRunStatus(
  outDir: string,
  planHash: string,
  resumed: boolean,
): Promise<(end: Partial<RunStatus> & { status: RunState }) => Promise<void>> {
  const earlier = resumed ? readRunStatus(outDir) : null;
  const started = Date.now();
  const base: RunStatus = {
    status: "running",
    planHash,
    startedAt: earlier?.startedAt ?? new Date(started).toISOString(),
    endedAt: null,
    wallSeconds: earlier?.wallSeconds ?? 0,
    steps: earlier?.steps ?? null,
    loss: null,
    evalLoss: null,
    probeRecall: null,
    tokensPerSecond: null,
    peakRssBytes: earlier?.peakRssBytes ?? null,
    error: null,
  };
  await writeRunStatus(outDir, base);
  return async (end) => {
    const peak = Math.max(base.peakRssBytes ?? 0, end.peakRssBytes ?? 0) || null;
    await writeRunStatus(outDir, {
      ...base,
      ...end,
      peakRssBytes: peak,
      endedAt: new Date().toISOString(),
      wallSeconds: base.wallSeconds + (Date.now() - started) / 1000,
    });
  };
}
