// Tokenizer files saved beside a trained model or adapter: the base files plus the added tokens and the
// chat template actually trained on, so inference tokenizes and formats exactly as training did.
import { copyFile, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Plan } from "../compile/plan-schema.ts";
import { writeFileAtomic } from "../util/atomic-write.ts";

type Json = Record<string, unknown>;

export interface TokenizerFilesOptions {
  added: Plan["tokenizer"]["added"];
  chatTemplate: string | null;
  /** Overrides of the special tokens (their text), e.g. the end-of-sequence token the run trained on. */
  eos?: string | null;
  bos?: string | null;
  pad?: string | null;
}

async function readJson(path: string): Promise<Json | null> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as Json;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
}

const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;

/** Writes tokenizer.json, tokenizer_config.json and special_tokens_map.json into `dir`; returns the names. */
export async function writeTokenizerFiles(
  dir: string,
  srcDir: string,
  opts: TokenizerFilesOptions,
): Promise<string[]> {
  const tok = await readJson(join(srcDir, "tokenizer.json"));
  if (!tok) throw new Error(`${srcDir}: no tokenizer.json to save with the model`);
  const written: string[] = [];
  const addedJson = [...((tok.added_tokens ?? []) as Json[])];
  const vocab = ((tok.model as Json | undefined)?.vocab ?? {}) as Record<string, number>;
  const have = new Set(addedJson.map((t) => t.content as string));
  const entries: [number, Json][] = [];
  for (const t of opts.added) {
    if (t.id === null) continue;
    const entry = {
      id: t.id,
      content: t.content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: !t.special,
      special: t.special,
    };
    entries.push([t.id, entry]);
    if (!have.has(t.content) && vocab[t.content] === undefined) addedJson.push(entry);
  }
  tok.added_tokens = addedJson;
  await writeFileAtomic(join(dir, "tokenizer.json"), json(tok));
  written.push("tokenizer.json");

  const cfg = (await readJson(join(srcDir, "tokenizer_config.json"))) ?? {};
  const decoder = { ...((cfg.added_tokens_decoder ?? {}) as Record<string, Json>) };
  for (const [id, { id: _id, ...rest }] of entries) decoder[String(id)] = rest;
  cfg.added_tokens_decoder = decoder;
  if (opts.chatTemplate !== null) cfg.chat_template = opts.chatTemplate;
  const special = (await readJson(join(srcDir, "special_tokens_map.json"))) ?? {};
  for (const role of ["eos", "bos", "pad"] as const) {
    const v = opts[role];
    if (v) {
      cfg[`${role}_token`] = v;
      special[`${role}_token`] = v;
    }
  }
  const extra = opts.added.filter((t) => t.special).map((t) => t.content);
  if (extra.length) {
    const prev = (special.additional_special_tokens ?? []) as unknown[];
    special.additional_special_tokens = [...new Set([...prev.map(String), ...extra])];
  }
  await writeFileAtomic(join(dir, "tokenizer_config.json"), json(cfg));
  await writeFileAtomic(join(dir, "special_tokens_map.json"), json(special));
  written.push("tokenizer_config.json", "special_tokens_map.json");
  // SentencePiece models ride along unchanged (slow tokenizers read them).
  try {
    await copyFile(join(srcDir, "tokenizer.model"), join(dir, "tokenizer.model"));
    written.push("tokenizer.model");
  } catch {}
  return written;
}
