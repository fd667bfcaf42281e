// Training checkpoints: trainable weights, AdamW moments, step, seed and data position, written atomically.
// A checkpoint is built in a temp folder and renamed into place, so `checkpoints/step-N/` is always whole.
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { SafetensorsFile, writeSafetensors } from "../model/safetensors.ts";
import { writeJsonAtomic } from "../util/atomic-write.ts";
import type { AdamW } from "./adamw.ts";

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

/** Writes `checkpoints/step-N/` atomically; returns its path. */
export async function writeCheckpoint(
  outDir: string,
  trainable: ReadonlyMap<string, tf.Variable>,
  optimizer: AdamW,
  state: CheckpointState,
): Promise<string> {
  const root = checkpointsDir(outDir);
  const final = join(root, `step-${state.step}`);
  const tmp = join(root, `.tmp-step-${state.step}-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  try {
    const weights = [...trainable].map(([name, v]) => ({
      name,
      shape: v.shape,
      data: async () => (await v.data()) as Float32Array,
    }));
    await writeSafetensors(join(tmp, WEIGHTS), weights);
    const opt = await optimizer.state();
    const moments = [...trainable].flatMap(([name, v]) => [
      { name: `m.${name}`, shape: v.shape, data: opt.m.get(name)! },
      { name: `v.${name}`, shape: v.shape, data: opt.v.get(name)! },
    ]);
    await writeSafetensors(join(tmp, OPTIMIZER), moments, { metadata: { step: String(opt.step) } });
    await writeJsonAtomic(join(tmp, STATE), state);
    // A checkpoint of the same step (a resumed run passing it again) is replaced whole.
    if (existsSync(final)) {
      const old = join(root, `.old-step-${state.step}-${process.pid}`);
      await rename(final, old);
      await rename(tmp, final);
      await rm(old, { recursive: true, force: true });
    } else await rename(tmp, final);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
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

/** Restores trainable weights and optimizer moments from a checkpoint folder; returns its state. */
export async function readCheckpoint(
  dir: string,
  trainable: ReadonlyMap<string, tf.Variable>,
  optimizer: AdamW,
): Promise<CheckpointState> {
  const state = JSON.parse(await readFile(join(dir, STATE), "utf8")) as CheckpointState;
  if (state.version !== CHECKPOINT_VERSION)
    throw new CheckpointError(`${dir}: checkpoint version ${state.version}, expected ${CHECKPOINT_VERSION}`);
  const w = await SafetensorsFile.open(join(dir, WEIGHTS));
  try {
    for (const name of w.tensors.keys())
      if (!trainable.has(name))
        throw new CheckpointError(`${dir}: holds "${name}", which this run does not train (another method?)`);
    for (const [name, v] of trainable) {
      if (!w.tensors.has(name)) throw new CheckpointError(`${dir}: no weights for "${name}"`);
      const data = await w.readF32(name, v.shape);
      const t = tf.tensor(data, v.shape);
      v.assign(t);
      t.dispose();
    }
  } finally {
    await w.close();
  }
  const o = await SafetensorsFile.open(join(dir, OPTIMIZER));
  try {
    const m = new Map<string, Float32Array>();
    const vv = new Map<string, Float32Array>();
    for (const [name, v] of trainable) {
      m.set(name, await o.readF32(`m.${name}`, v.shape));
      vv.set(name, await o.readF32(`v.${name}`, v.shape));
    }
    optimizer.load({ step: Number(o.metadata.step ?? state.step), m, v: vv });
  } finally {
    await o.close();
  }
  return state;
}

/**
 * A fresh run keeps the previous run's checkpoints as `checkpoints.previous/` (replacing an older one),
 * so a later --resume never mixes runs. Returns the folder they went to, or null when there were none.
 */
export async function retireCheckpoints(outDir: string): Promise<string | null> {
  const root = checkpointsDir(outDir);
  if (!existsSync(root)) return null;
  const previous = `${root}.previous`;
  await rm(previous, { recursive: true, force: true });
  await rename(root, previous);
  return previous;
}
