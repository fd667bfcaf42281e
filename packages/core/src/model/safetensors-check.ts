// A model folder's weight files checked against its config from the headers alone (no tensor is read), so
// `sft plan` reports a missing tensor, a wrong shape or a truncated file instead of `sft run` failing later.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Checkpoint, INDEX_FILE, SINGLE_FILE } from "./checkpoint.ts";
import type { ModelConfig } from "./config.ts";
import { isFloatDtype } from "./dtype.ts";
import { familyOf } from "./families/index.ts";
import { SafetensorsError } from "./safetensors.ts";

/** Problems past this many are summed up in one line. */
const MAX_REPORTED = 10;

/**
 * Messages for what the weights lack or get wrong, each naming the file and the tensor; [] when they fit.
 * A folder with no safetensors at all is left to the loader (it names the files it looks for).
 */
export async function checkWeightFiles(dir: string, cfg: ModelConfig): Promise<string[]> {
  if (!existsSync(join(dir, SINGLE_FILE)) && !existsSync(join(dir, INDEX_FILE))) return [];
  let ck: Checkpoint;
  try {
    ck = await Checkpoint.open(dir);
  } catch (e) {
    if (e instanceof SafetensorsError) return [e.message];
    throw e;
  }
  try {
    const family = familyOf(cfg);
    // A family that converts at load (fused tensors) names its own inputs: only the headers are checked.
    if (family.readWeight) return [];
    const problems: string[] = [];
    for (const fact of family.tensors(cfg, cfg.vocabSize)) {
      if (!ck.has(fact.name)) {
        problems.push(
          `${where(dir, ck, null)}: tensor "${fact.name}" (shape [${fact.shape.join(", ")}]) is missing`,
        );
        continue;
      }
      const info = ck.info(fact.name);
      const file = where(dir, ck, fact.name);
      if (info.shape.join() !== fact.shape.join())
        problems.push(
          `${file}: tensor "${fact.name}" has shape [${info.shape.join(", ")}], config.json implies [${fact.shape.join(", ")}]`,
        );
      else if (!isFloatDtype(info.dtype))
        problems.push(`${file}: tensor "${fact.name}" is ${info.dtype}; only F32, F16 and BF16 weights load`);
    }
    if (problems.length > MAX_REPORTED)
      return [...problems.slice(0, MAX_REPORTED), `... and ${problems.length - MAX_REPORTED} more`];
    return problems;
  } finally {
    await ck.close();
  }
}

/** The file that holds `name` (the index or the single file when it is missing). */
function where(dir: string, ck: Checkpoint, name: string | null): string {
  if (name !== null) return ck.fileOf(name);
  return join(dir, existsSync(join(dir, INDEX_FILE)) ? INDEX_FILE : SINGLE_FILE);
}
