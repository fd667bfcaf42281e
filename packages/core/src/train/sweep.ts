// Runs a sweep (recipe/sweep.ts): every trial compiled first, every problem of every trial reported before any
// compute (trials that would not fit in memory included); then the trials one after another, each in its own
// folder and resumable, a failed trial recorded in sweep.json without stopping the others.
import { existsSync, readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { type CompileResult, compileRecipe } from "../compile/compile.ts";
import { exportRecipe } from "../export/export.ts";
import type { ExportTarget } from "../export/types.ts";
import type { Diagnostic } from "../recipe/diagnostics.ts";
import { formatLocation } from "../recipe/diagnostics.ts";
import { loadRecipeFile } from "../recipe/load.ts";
import { RecipeLocator } from "../recipe/locate.ts";
import { type OverrideRecord, overrideRecords } from "../recipe/overrides.ts";
import { isSweep, type Sweep, sweepTrials, type Trial } from "../recipe/sweep.ts";
import { writeFileAtomic } from "../util/atomic-write.ts";
import { type RunResult, type TrainOptions, train } from "./loop.ts";

export type TrialStatus = "planned" | "running" | "interrupted" | "finished" | "failed";

export interface TrialRecord {
  id: string;
  folder: string;
  overrides: OverrideRecord[];
  status: TrialStatus;
  planHash: string | null;
  error: string | null;
}

export interface SweepState {
  name: string;
  file: string | null;
  trials: TrialRecord[];
}

export interface CompiledTrial {
  trial: Trial;
  dir: string;
  result: CompileResult;
  /** What stops the sweep: errors, and an estimated peak over the device's memory (unless acknowledged). */
  blocking: Diagnostic[];
}

export const SWEEP_STATE_FILE = "sweep.json";

/** Imports a sweep file (its default export must be a `defineSweep(...)`). */
export async function loadSweepFile(
  path: string,
): Promise<{ ok: true; sweep: Sweep } | { ok: false; diagnostics: Diagnostic[] }> {
  const loaded = await loadRecipeFile(path);
  if (!loaded.ok) return loaded;
  if (!isSweep(loaded.value)) {
    const diagnostic: Diagnostic = {
      severity: "error",
      code: "sft/recipe-load",
      message: "the sweep file's default export is not a sweep",
      path: [],
      location: { file: loaded.file, line: 1, column: 1 },
      hint: "end the file with `export default defineSweep(recipe, { axes: { ... } })`",
    };
    return { ok: false, diagnostics: [diagnostic] };
  }
  return { ok: true, sweep: { ...loaded.value, file: loaded.value.file ?? loaded.file } };
}

/** The sweep's name: `spec.name`, else its file's name. */
export function sweepName(sweep: Sweep): string {
  return (
    sweep.spec.name ??
    (sweep.file
      ?.split(/[\\/]/)
      .pop()
      ?.replace(/\.[cm]?[jt]s$/, "") ||
      "sweep")
  );
}

/** Where the trials' folders go: `spec.outputDir`, else `out/<name>`, relative to the sweep file. */
export function sweepRoot(sweep: Sweep): string {
  const base = sweep.file ? dirname(sweep.file) : process.cwd();
  return resolve(base, sweep.spec.outputDir ?? join("out", sweepName(sweep)));
}

/** The trials, each override's origin the place of its value in the sweep file (`sweep.ts:7:28 …`). */
export function locatedTrials(sweep: Sweep): Trial[] {
  const trials = sweepTrials(sweep);
  let locator: RecipeLocator | null = null;
  try {
    if (sweep.file) locator = new RecipeLocator(sweep.file);
  } catch {
    locator = null;
  }
  return trials.map((t) => ({
    ...t,
    overrides: t.overrides.map((o) => {
      const index = Number(/\[(\d+)\]$/.exec(o.origin)?.[1] ?? 0);
      const at = locator?.locate(["axes", o.path, index]);
      const where = at ? formatLocation(at) : (sweep.file ?? "the sweep");
      return { ...o, origin: `${where} axes["${o.path}"][${index}] (trial ${t.id})` };
    }),
  }));
}

/** Compiles every trial (plan.json into each trial folder when `write`); nothing trains. */
export async function compileSweep(
  sweep: Sweep,
  opts: { write?: boolean; readData?: boolean } = {},
): Promise<CompiledTrial[]> {
  const root = sweepRoot(sweep);
  const out: CompiledTrial[] = [];
  for (const trial of locatedTrials(sweep)) {
    const dir = join(root, trial.folder);
    const result = await compileRecipe(sweep.base, {
      overrides: trial.overrides,
      outputDir: dir,
      write: opts.write ?? true,
      readData: opts.readData ?? true,
    });
    const blocking = result.diagnostics.filter(
      (d) => d.severity === "error" || d.code === "sft/memory-exceeds-device",
    );
    out.push({ trial, dir, result, blocking });
  }
  return out;
}

export function readSweepState(root: string): SweepState | null {
  const file = join(root, SWEEP_STATE_FILE);
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, "utf8")) as SweepState;
  } catch {
    return null;
  }
}

async function writeSweepState(root: string, state: SweepState): Promise<void> {
  await mkdir(root, { recursive: true });
  await writeFileAtomic(join(root, SWEEP_STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
}

export interface SweepRunOptions extends Pick<TrainOptions, "maxSteps" | "progress" | "samples" | "signal"> {
  /** Start every trial over (finished ones too); their earlier checkpoints are kept aside. */
  overwrite?: boolean;
  /** Called as each trial starts and ends. */
  onTrial?: (event: { trial: TrialRecord; result?: RunResult; error?: unknown }) => void;
  /** Compile every trial (plan.json in each folder) and stop: nothing trains. */
  planOnly?: boolean;
  /** Trains a plan (tests stand a stub in). */
  trainPlan?: typeof train;
}

export interface SweepRun {
  /** Trials' compile problems; nothing ran when any trial has one. */
  compiled: CompiledTrial[];
  ok: boolean;
  state: SweepState | null;
  /** True when a trial was interrupted (Ctrl-C): the sweep stopped there. */
  interrupted: boolean;
}

/**
 * Compiles every trial, then (when none has a problem) trains the trials not finished yet, one after
 * another: a trial with checkpoints resumes, a failed one is recorded and the next one starts.
 */
export async function runSweep(sweep: Sweep, opts: SweepRunOptions = {}): Promise<SweepRun> {
  const compiled = await compileSweep(sweep);
  if (compiled.some((c) => c.blocking.length > 0 || !c.result.plan))
    return { compiled, ok: false, state: null, interrupted: false };
  if (opts.planOnly) return { compiled, ok: true, state: null, interrupted: false };
  const root = sweepRoot(sweep);
  const earlier = readSweepState(root);
  const state: SweepState = {
    name: sweepName(sweep),
    file: sweep.file,
    trials: compiled.map(({ trial, result }) => {
      const before = earlier?.trials.find((t) => t.folder === trial.folder);
      const same = before?.planHash === result.plan!.recipe.hash;
      return {
        id: trial.id,
        folder: trial.folder,
        overrides: overrideRecords(trial.overrides),
        status: same && before && !opts.overwrite ? before.status : "planned",
        planHash: result.plan!.recipe.hash,
        error: same && before ? before.error : null,
      };
    }),
  };
  // A trial whose recipe changed since its last run starts over (its checkpoints are set aside, not resumed).
  const changed = new Set(
    state.trials
      .filter((t) => {
        const before = earlier?.trials.find((b) => b.folder === t.folder);
        return before !== undefined && before.planHash !== t.planHash;
      })
      .map((t) => t.folder),
  );
  await writeSweepState(root, state);
  const trainPlan = opts.trainPlan ?? train;
  for (const [i, c] of compiled.entries()) {
    const record = state.trials[i]!;
    const fresh = opts.overwrite || changed.has(record.folder);
    if (record.status === "finished") continue;
    record.status = "running";
    record.error = null;
    await writeSweepState(root, state);
    opts.onTrial?.({ trial: record });
    try {
      const result = await trainPlan(c.result.plan!, {
        compiled: c.result,
        ...(fresh ? { overwrite: true } : { resume: true }),
        ...(opts.maxSteps !== undefined ? { maxSteps: opts.maxSteps } : {}),
        ...(opts.progress ? { progress: opts.progress } : {}),
        ...(opts.samples !== undefined ? { samples: opts.samples } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      record.status = result.interrupted ? "interrupted" : "finished";
      await writeSweepState(root, state);
      opts.onTrial?.({ trial: record, result });
      if (result.interrupted) return { compiled, ok: true, state, interrupted: true };
    } catch (e) {
      record.status = "failed";
      record.error = (e as Error).message ?? String(e);
      await writeSweepState(root, state);
      opts.onTrial?.({ trial: record, error: e });
    }
  }
  return { compiled, ok: true, state, interrupted: false };
}

/** `sft sweep --export`: one Axolotl or TRL config (with its data) per trial, under `out/<folder>`. */
export async function exportSweep(
  sweep: Sweep,
  target: ExportTarget,
  outRoot: string,
): Promise<{ compiled: CompiledTrial[]; ok: boolean; written: string[] }> {
  const compiled = await compileSweep(sweep, { write: false });
  if (compiled.some((c) => c.blocking.length > 0 || !c.result.plan))
    return { compiled, ok: false, written: [] };
  const written: string[] = [];
  for (const c of compiled) {
    const out = join(outRoot, c.trial.folder);
    const result = await exportRecipe(sweep.base, { target, out, compile: { overrides: c.trial.overrides } });
    if (!result.ok) {
      c.blocking.push(...result.diagnostics.filter((d) => d.severity === "error"));
      return { compiled, ok: false, written };
    }
    written.push(out);
  }
  return { compiled, ok: true, written };
}
