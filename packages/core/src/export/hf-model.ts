// A Hugging Face model folder (config.json, safetensors, generation config, tokenizer files): what full,
// partial and frozen runs write, and what LoRA/QLoRA write once merged.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeCheckpoint } from "../model/checkpoint.ts";
import { type ModelConfig, readHfConfigJson, toHfConfig } from "../model/config.ts";
import type { TensorToWrite } from "../model/safetensors.ts";
import { writeFolderAtomic } from "../util/atomic-folder.ts";
import { writeFileAtomic } from "../util/atomic-write.ts";
import { type TokenizerFilesOptions, writeTokenizerFiles } from "./tokenizer-files.ts";

export interface HfModelOptions {
  /** Base model folder: generation_config.json is taken from it. */
  baseDir?: string | null;
  tokenizerDir: string | null;
  tokenizer: TokenizerFilesOptions;
  maxShardBytes?: number;
  /** The end-of-sequence id the run trained on (an added end-of-turn token), written where HF reads it. */
  eosTokenId?: number | null;
}

export const GENERATION_CONFIG = "generation_config.json";

/** `eos` first, then the base's ids (transformers stops on any of them). */
function withEos(base: number | number[] | null | undefined, eos: number): number | number[] {
  const rest = (Array.isArray(base) ? base : base == null ? [] : [base]).filter((x) => x !== eos);
  return rest.length ? [eos, ...rest] : eos;
}

/**
 * generation_config.json: the base's, else what transformers derives from config.json (bos/eos), with
 * the trained end token first among the ids generate() stops on. Written beside merged models and
 * adapters alike, so base + adapter stops where the merged model does.
 */
export async function writeGenerationConfig(
  dir: string,
  cfg: Pick<ModelConfig, "bosTokenId" | "eosTokenId">,
  opts: { baseDir?: string | null; eosTokenId?: number | null },
): Promise<string> {
  let gen: Record<string, unknown> | null = null;
  if (opts.baseDir) {
    try {
      gen = JSON.parse(await readFile(join(opts.baseDir, "generation_config.json"), "utf8")) as Record<
        string,
        unknown
      >;
    } catch {}
  }
  gen ??= { bos_token_id: cfg.bosTokenId, eos_token_id: cfg.eosTokenId };
  const eos = opts.eosTokenId ?? null;
  if (eos !== null) gen.eos_token_id = withEos(gen.eos_token_id as number | number[] | null, eos);
  await writeFileAtomic(join(dir, GENERATION_CONFIG), `${JSON.stringify(gen, null, 2)}\n`);
  return GENERATION_CONFIG;
}

/** Writes the model folder `dir` whole (util/atomic-folder): a crash leaves the old folder or none, never part. */
export async function writeHfModel(
  dir: string,
  cfg: ModelConfig,
  tensors: readonly TensorToWrite[],
  opts: HfModelOptions,
): Promise<string[]> {
  const eos = opts.eosTokenId ?? null;
  const eosTokenId = eos === null ? cfg.eosTokenId : withEos(cfg.eosTokenId, eos);
  // The base's keys the family does not model (e.g. Mistral's `sliding_window`) stay as they were.
  const base = opts.baseDir ? await readHfConfigJson(opts.baseDir).catch(() => null) : null;
  return writeFolderAtomic(dir, async (tmp) => {
    const files = await writeCheckpoint(tmp, tensors, { dtype: "F32", maxShardBytes: opts.maxShardBytes });
    await writeFileAtomic(
      join(tmp, "config.json"),
      `${JSON.stringify(toHfConfig({ ...cfg, eosTokenId, torchDtype: "float32" }, base), null, 2)}\n`,
    );
    files.push("config.json");
    files.push(await writeGenerationConfig(tmp, cfg, { baseDir: opts.baseDir, eosTokenId: eos }));
    if (opts.tokenizerDir) files.push(...(await writeTokenizerFiles(tmp, opts.tokenizerDir, opts.tokenizer)));
    return files;
  });
}
