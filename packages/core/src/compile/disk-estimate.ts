// What a run puts on disk, from the plan's numbers: the checkpoints retention keeps at once, the artefacts
// it saves (both under output.dir) and the tokenized data cache (under data.cache.dir). Shown by `sft plan`;
// `sft run` checks it against the free space before training.
import type { Plan } from "./plan-schema.ts";

export interface DiskEstimate {
  /** One checkpoint: the trainable values and AdamW's two moments, float32. */
  checkpoint: number;
  /** Checkpoints on disk at once: the newest `keep`, the best by eval loss and the one being written. */
  checkpointsHeld: number;
  /** The adapter and/or merged model (float32, as export writes them), with the small files beside them. */
  artefacts: number;
  /** The tokenized data cache the plan names, in its own folder (data.cache.dir). */
  dataCache: number;
  total: number;
}

// Tokenizer files, configs, metrics, plots and report.html: small beside the tensors, never zero.
const SMALL_FILES = 16 * 1024 ** 2;

type DiskInputs = Pick<Plan, "parameters" | "optimizer" | "checkpoints" | "output"> & {
  data: { cache: Pick<Plan["data"]["cache"], "bytes"> };
};

export function diskEstimate(plan: DiskInputs): DiskEstimate {
  const trainable = plan.parameters.trainable;
  const checkpoint = trainable * 4 * 3;
  const steps = plan.optimizer.schedule.totalSteps ?? 1;
  const every = plan.checkpoints.every;
  const written = every ? Math.ceil(steps / every) : 1;
  const checkpointsHeld = Math.max(1, Math.min(written, plan.checkpoints.keep + 2));
  const save = plan.output.save;
  const merged = save === "adapter" ? 0 : plan.parameters.total * 4;
  const adapter = save === "merged" ? 0 : trainable * 4;
  const artefacts = merged + adapter + SMALL_FILES;
  const dataCache = plan.data.cache.bytes ?? 0;
  return {
    checkpoint,
    checkpointsHeld,
    artefacts,
    dataCache,
    total: checkpoint * checkpointsHeld + artefacts + dataCache,
  };
}
