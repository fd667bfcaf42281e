// `sft runs [dir]`: the run folders under an output root (any folder with a plan.json), each with its status,
// plan hash, steps and final metrics. A run marked running whose lock no live process holds was killed:
// it is listed as interrupted (resume it with --resume).
import { existsSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { lockHeld } from "../train/output-lock.ts";
import { readRunStatus } from "../train/run-status.ts";
import { readRunMetrics } from "./metrics.ts";
import { readRunPlan } from "./write.ts";

export type ListedStatus = "planned" | "running" | "interrupted" | "finished" | "failed";

export interface ListedRun {
  dir: string;
  name: string;
  status: ListedStatus;
  planHash: string | null;
  steps: number | null;
  totalSteps: number | null;
  loss: number | null;
  evalLoss: number | null;
  probeRecall: number | null;
  error: string | null;
}

// A run folder's own subfolders: never runs themselves.
const NOT_RUNS = new Set(["checkpoints", "adapter", "model", "plots", "node_modules", ".sft-cache"]);

/** The run folders under `root` (depth-first, sorted), `root` itself included. */
export function findRunDirs(root: string, depth = 4): string[] {
  const out: string[] = [];
  const walk = (dir: string, left: number) => {
    if (existsSync(join(dir, "plan.json"))) out.push(dir);
    if (left === 0) return;
    let entries: import("node:fs").Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name)))
      if (
        e.isDirectory() &&
        !e.name.startsWith(".") &&
        !NOT_RUNS.has(e.name) &&
        !e.name.startsWith("checkpoints")
      )
        walk(join(dir, e.name), left - 1);
  };
  walk(root, depth);
  return out;
}

export function listRun(dir: string): ListedRun | null {
  const plan = readRunPlan(dir);
  if (!plan) return null;
  const recorded = readRunStatus(dir);
  const metrics = readRunMetrics(join(dir, "metrics.jsonl"));
  // A folder from before run.json: its metrics tell how far it got.
  const lastStep = metrics.steps.at(-1)?.step;
  const total = plan.optimizer.schedule.totalSteps;
  let status: ListedStatus =
    recorded?.status ??
    (lastStep === undefined ? "planned" : lastStep === total ? "finished" : "interrupted");
  if (status === "running" && !lockHeld(dir)) status = "interrupted";
  return {
    dir,
    name: plan.recipe.name,
    status,
    planHash: plan.recipe.hash,
    steps: metrics.steps.at(-1)?.step ?? recorded?.steps ?? null,
    totalSteps: plan.optimizer.schedule.totalSteps,
    loss: metrics.steps.at(-1)?.loss ?? null,
    evalLoss: metrics.evals.at(-1)?.evalLoss ?? null,
    probeRecall: metrics.probes.at(-1)?.recall ?? null,
    error: recorded?.error ?? null,
  };
}

export function listRuns(root: string): ListedRun[] {
  return findRunDirs(root)
    .map(listRun)
    .filter((r): r is ListedRun => r !== null);
}

/** A table for the terminal, folders relative to `cwd`. */
export function formatRuns(runs: readonly ListedRun[], cwd = process.cwd()): string {
  if (runs.length === 0) return "no runs found (a run folder holds a plan.json)";
  const f = (x: number | null) => (x === null ? "-" : String(Number(x.toFixed(4))));
  const head = ["run", "status", "plan", "steps", "loss", "eval loss", "recall"];
  const rows = runs.map((r) => [
    relative(cwd, r.dir) || ".",
    r.status,
    r.planHash?.slice(0, 10) ?? "-",
    `${r.steps ?? 0}/${r.totalSteps ?? "?"}`,
    f(r.loss),
    f(r.evalLoss),
    r.probeRecall === null ? "-" : `${(r.probeRecall * 100).toFixed(0)}%`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  const failed = runs.filter((r) => r.error).map((r) => `  ${relative(cwd, r.dir) || "."}: ${r.error}`);
  return [line(head), ...rows.map(line), ...(failed.length ? ["", "failures:", ...failed] : [])].join("\n");
}
