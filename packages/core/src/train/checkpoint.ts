// Training checkpoints: trainable weights, AdamW moments, step, seed and data position, written atomically.
// A checkpoint is written whole (util/atomic-folder), so `checkpoints/step-N/` is never partial.
import { existsSync } from "node:fs";
import { readdir, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import type { TensorShape, TrainableState } from "../engines/engine.ts";
import { SafetensorsFile, writeSafetensors } from "../model/safetensors.ts";
import { writeFolderAtomic } from "../util/atomic-folder.ts";
import { writeJsonAtomic } from "../util/atomic-write.ts";
import { writeChecksums } from "./checksums.ts";

export const CHECKPOINT_VERSION = 1;

export interface CheckpointState {
  version: typeof CHECKPOINT_VERSION;
  /** Optimizer steps done. */
  step: number;
  /** Where the next micro-batch comes from. */
  epoch: number;
  microBatch: number;
  /** Seed of the run; dropout seeds derive from it, the step and the micro-batch (see `dropoutSeed`). */
  seed: number;
  recipeHash: string;
  method: string;
  /** Real tokens and seconds trained so far (for throughput over a resumed run). */
  tokens: number;
  seconds: number;
  /** The data the run was planned on (a resume on changed data is told so). */
  data?: { samplesPerEpoch: number | null; tokensPerEpoch: number | null };
}

const WEIGHTS = "trainable.safetensors";
const OPTIMIZER = "optimizer.safetensors";
const STATE = "state.json";

export function checkpointsDir(outDir: string): string {
  return join(outDir, "checkpoints");
}

/** Writes `checkpoints/step-N/` atomically (the engine's trainable values and moments); returns its path. */
export async function writeCheckpoint(
  outDir: string,
  trainable: TrainableState,
  state: CheckpointState,
): Promise<string> {
  const final = join(checkpointsDir(outDir), `step-${state.step}`);
  // A checkpoint of the same step (a resumed run passing it again) is replaced whole.
  await writeFolderAtomic(final, async (tmp) => {
    const weights = trainable.weights.map(({ name, shape, data }) => ({ name, shape, data }));
    await writeSafetensors(join(tmp, WEIGHTS), weights);
    const opt = trainable.optimizer;
    const moments = trainable.weights.flatMap(({ name, shape }) => [
      { name: `m.${name}`, shape, data: moment(opt.m, name) },
      { name: `v.${name}`, shape, data: moment(opt.v, name) },
    ]);
    await writeSafetensors(join(tmp, OPTIMIZER), moments, { metadata: { step: String(opt.step) } });
    await writeJsonAtomic(join(tmp, STATE), state);
    await writeChecksums(tmp, [WEIGHTS, OPTIMIZER, STATE]);
  });
  return final;
}

/** The complete checkpoint with the highest step (temp folders and partial ones are ignored), or null. */
export async function latestCheckpoint(outDir: string): Promise<string | null> {
  const root = checkpointsDir(outDir);
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return null;
  }
  const steps = names
    .map((n) => /^step-(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => b - a);
  for (const s of steps) {
    const dir = join(root, `step-${s}`);
    if ([WEIGHTS, OPTIMIZER, STATE].every((f) => existsSync(join(dir, f)))) return dir;
  }
  return null;
}

export class CheckpointError extends Error {
  override name = "CheckpointError";
}

/** Reads a checkpoint folder for a run that trains `expected`: its state and the values to restore. */
export async function readCheckpoint(
  dir: string,
  expected: readonly TensorShape[],
): Promise<{ state: CheckpointState; trainable: TrainableState }> {
  const state = JSON.parse(await readFile(join(dir, STATE), "utf8")) as CheckpointState;
  if (state.version !== CHECKPOINT_VERSION)
    throw new CheckpointError(`${dir}: checkpoint version ${state.version}, expected ${CHECKPOINT_VERSION}`);
  const names = new Set(expected.map((e) => e.name));
  const weights: TrainableState["weights"] = [];
  const w = await SafetensorsFile.open(join(dir, WEIGHTS));
  try {
    for (const name of w.tensors.keys())
      if (!names.has(name))
        throw new CheckpointError(`${dir}: holds "${name}", which this run does not train (another method?)`);
    for (const { name, shape } of expected) {
      if (!w.tensors.has(name)) throw new CheckpointError(`${dir}: no weights for "${name}"`);
      weights.push({ name, shape, data: await w.readF32(name, shape) });
    }
  } finally {
    await w.close();
  }
  const o = await SafetensorsFile.open(join(dir, OPTIMIZER));
  try {
    const m = new Map<string, Float32Array>();
    const v = new Map<string, Float32Array>();
    for (const { name, shape } of expected) {
      m.set(name, await o.readF32(`m.${name}`, shape));
      v.set(name, await o.readF32(`v.${name}`, shape));
    }
    return {
      state,
      trainable: { weights, optimizer: { step: Number(o.metadata.step ?? state.step), m, v } },
    };
  } finally {
    await o.close();
  }
}

function moment(moments: ReadonlyMap<string, Float32Array>, name: string): Float32Array {
  const m = moments.get(name);
  if (!m) throw new CheckpointError(`optimizer state: no moment for "${name}"`);
  return m;
}

/**
 * A fresh run keeps the previous run's checkpoints as `checkpoints.previous/` (or `.previous-2`, ... when
 * that exists: retired checkpoints are never deleted), so a later --resume never mixes runs. Returns the
 * folder they went to, or null when there were none.
 */
export async function retireCheckpoints(outDir: string): Promise<string | null> {
  const root = checkpointsDir(outDir);
  if (!existsSync(root)) return null;
  let previous = `${root}.previous`;
  for (let n = 2; existsSync(previous); n++) previous = `${root}.previous-${n}`;
  await rename(root, previous);
  return previous;
}

/**
 * An interrupted run writes a checkpoint but no artefacts: an earlier run's adapter/ or model/ in the same
 * folder would sit beside it as if this run had made it. They move to `<name>.previous` (or `.previous-2`,
 * ...; never deleted). Returns where each went.
 */
export async function retireStaleArtefacts(outDir: string, names = ["adapter", "model"]): Promise<string[]> {
  const moved: string[] = [];
  for (const name of names) {
    const dir = join(outDir, name);
    if (!existsSync(dir)) continue;
    let previous = `${dir}.previous`;
    for (let n = 2; existsSync(previous); n++) previous = `${dir}.previous-${n}`;
    await rename(dir, previous);
    moved.push(previous);
  }
  return moved;
}
