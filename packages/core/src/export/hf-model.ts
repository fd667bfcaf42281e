// A Hugging Face model folder (config.json, safetensors, generation config, tokenizer files): what full,
// partial and frozen runs write, and what LoRA/QLoRA write once merged.
import { copyFile } from "node:fs/promises";
import { join } from "node:path";
import { writeCheckpoint } from "../model/checkpoint.ts";
import { type ModelConfig, toHfConfig } from "../model/config.ts";
import type { TensorToWrite } from "../model/safetensors.ts";
import { writeFileAtomic } from "../util/atomic-write.ts";
import { type TokenizerFilesOptions, writeTokenizerFiles } from "./tokenizer-files.ts";

export interface HfModelOptions {
  /** Base model folder: generation_config.json is copied from it. */
  baseDir?: string | null;
  tokenizerDir: string | null;
  tokenizer: TokenizerFilesOptions;
  maxShardBytes?: number;
}

export async function writeHfModel(
  dir: string,
  cfg: ModelConfig,
  tensors: readonly TensorToWrite[],
  opts: HfModelOptions,
): Promise<string[]> {
  const files = await writeCheckpoint(dir, tensors, { dtype: "F32", maxShardBytes: opts.maxShardBytes });
  await writeFileAtomic(
    join(dir, "config.json"),
    `${JSON.stringify(toHfConfig({ ...cfg, torchDtype: "float32" }), null, 2)}\n`,
  );
  files.push("config.json");
  if (opts.baseDir) {
    try {
      await copyFile(join(opts.baseDir, "generation_config.json"), join(dir, "generation_config.json"));
      files.push("generation_config.json");
    } catch {}
  }
  if (opts.tokenizerDir) files.push(...(await writeTokenizerFiles(dir, opts.tokenizerDir, opts.tokenizer)));
  return files;
}
