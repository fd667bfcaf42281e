// A Hugging Face tokenizer (tokenizer.json + tokenizer_config.json) over @huggingface/tokenizers,
// with the extras SFT needs: special tokens, chat template, added tokens and token offsets.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { renderChatTemplate } from "../template/render.ts";
import type { Message } from "../types.ts";
import { alignTokens, SurfaceTable, surfaceKind } from "./surface.ts";

export interface EncodeOptions {
  /** Add the post-processor's special tokens (e.g. BOS). Default true, as in transformers. */
  addSpecialTokens?: boolean;
}

export interface ChatTemplateOptions {
  addGenerationPrompt?: boolean;
  tools?: unknown[];
  /** A template string to use instead of the tokenizer's own. */
  template?: string;
  /** Extra variables for the template (e.g. enable_thinking). */
  extra?: Record<string, unknown>;
}

export interface Encoded {
  ids: number[];
  /** [start, end) of each token in the text, in UTF-16 code units (JS string indices). */
  offsets: [number, number][];
}

export interface Tokenizer {
  encode(text: string, opts?: EncodeOptions): number[];
  /** Ids plus per-token character offsets; throws if the tokens cannot be aligned to the text. */
  encodeWithOffsets(text: string, opts?: EncodeOptions): Encoded;
  decode(ids: readonly number[], opts?: { skipSpecialTokens?: boolean }): string;
  /**
   * The text as the template wrote it: like decode, without the "▁" a SentencePiece tokenizer with a
   * Prepend normalizer (legacy Llama) puts at the start of each text run after an added token.
   */
  decodeAsWritten(ids: readonly number[]): string;
  /** Size including added tokens (transformers' len(tokenizer)). */
  readonly vocabSize: number;
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  readonly padToken: string | null;
  readonly unkToken: string | null;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly padTokenId: number | null;
  readonly unkTokenId: number | null;
  /** Contents of all special added tokens (never split by the tokenizer). */
  readonly specialTokens: readonly string[];
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
  readonly chatTemplate: string | null;
  /** Named templates from a list-form chat_template (e.g. "default", "tool_use"). */
  readonly chatTemplates: Readonly<Record<string, string>>;
  /** The context variables transformers passes besides messages: bos_token, eos_token, ... */
  templateContext(): Record<string, unknown>;
  applyChatTemplate(messages: readonly Message[], opts?: ChatTemplateOptions): string;
  /** Makes an existing token the bos/eos/pad/unk token (the template context and generation follow it). */
  setSpecialToken(role: "bos" | "eos" | "pad" | "unk", content: string): void;
  /** Appends tokens with fresh ids after the current vocab; returns their ids (existing ones keep theirs). */
  addTokens(tokens: readonly { content: string; special: boolean }[]): number[];
}

type Json = Record<string, unknown>;
type UnicodeForm = "NFC" | "NFKC" | "NFD" | "NFKD";
interface AddedTokenJson {
  id: number;
  content: string;
  special?: boolean;
  normalized?: boolean;
  lstrip?: boolean;
  rstrip?: boolean;
  single_word?: boolean;
}

const utf8 = new TextEncoder();
const SPECIAL_KEYS = [
  "bos_token",
  "eos_token",
  "unk_token",
  "pad_token",
  "sep_token",
  "cls_token",
  "mask_token",
];

/** tokenizer_config.json may spell a token as { content, ... } (AddedToken) instead of a string. */
function tokenString(v: unknown): string | null {
  if (typeof v === "string") return v;
  if (v && typeof v === "object" && typeof (v as Json).content === "string")
    return (v as Json).content as string;
  return null;
}

function parseTemplates(raw: unknown): { main: string | null; named: Record<string, string> } {
  if (typeof raw === "string") return { main: raw, named: { default: raw } };
  const named: Record<string, string> = {};
  if (Array.isArray(raw)) {
    for (const e of raw) {
      if (
        e &&
        typeof e === "object" &&
        typeof (e as Json).name === "string" &&
        typeof (e as Json).template === "string"
      )
        named[(e as Json).name as string] = (e as Json).template as string;
    }
  } else if (raw && typeof raw === "object") {
    for (const [k, v] of Object.entries(raw)) if (typeof v === "string") named[k] = v;
  }
  return { main: named.default ?? null, named };
}

class HfBackedTokenizer implements Tokenizer {
  private hf!: HfTokenizer;
  private table!: SurfaceTable;
  private addedSet!: Set<string>;
  private specialSet!: Set<string>;
  private maxId = -1;
  private unicodeForm: UnicodeForm | null = null;
  readonly chatTemplate: string | null;
  readonly chatTemplates: Readonly<Record<string, string>>;
  bosToken: string | null;
  eosToken: string | null;
  padToken: string | null;
  unkToken: string | null;
  private readonly special: Record<string, string | string[]> = {};

  constructor(
    private readonly json: Json,
    private readonly config: Json,
    specialMap: Json,
  ) {
    for (const k of SPECIAL_KEYS) {
      const v = tokenString(config[k]) ?? tokenString(specialMap[k]);
      if (v !== null) this.special[k] = v;
    }
    const extra = config.additional_special_tokens ?? specialMap.additional_special_tokens;
    if (Array.isArray(extra))
      this.special.additional_special_tokens = extra.map(tokenString).filter((x): x is string => x !== null);
    this.bosToken = (this.special.bos_token as string | undefined) ?? null;
    this.eosToken = (this.special.eos_token as string | undefined) ?? null;
    this.padToken = (this.special.pad_token as string | undefined) ?? null;
    this.unkToken = (this.special.unk_token as string | undefined) ?? null;
    const t = parseTemplates(config.chat_template);
    this.chatTemplate = t.main;
    this.chatTemplates = t.named;
    this.rebuild();
  }

  private rebuild(): void {
    const cfg: Json = { ...this.config };
    for (const [k, v] of Object.entries(this.special)) cfg[k] = v;
    delete cfg.chat_template;
    this.hf = new HfTokenizer(this.json, cfg);
    const added = (this.json.added_tokens ?? []) as AddedTokenJson[];
    this.addedSet = new Set();
    this.specialSet = new Set();
    for (const a of added) {
      this.addedSet.add(a.content);
      if (a.special) this.specialSet.add(a.content);
    }
    // Token strings of normalized added tokens (e.g. "▁</s>") also count as added.
    for (const tok of this.hf.get_added_tokens_decoder().values()) this.addedSet.add(tok.content);
    const normalizer = this.hf.normalizer;
    if (normalizer)
      for (const a of added) if (a.normalized) this.addedSet.add(normalizer(a.content) as string);
    this.table = new SurfaceTable(surfaceKind(this.json), this.addedSet);
    installWordSplit(this.hf, this.json);
    const form = /"type":"(NFC|NFKC|NFD|NFKD)"/.exec(JSON.stringify(this.json.normalizer ?? null));
    this.unicodeForm = (form?.[1] as UnicodeForm | undefined) ?? null;
    this.maxId = -1;
    for (const id of this.hf.get_vocab(true).values()) if (id > this.maxId) this.maxId = id;
    for (const a of added) if (a.id > this.maxId) this.maxId = a.id;
  }

  get vocabSize(): number {
    return this.maxId + 1;
  }
  get bosTokenId(): number | null {
    return this.idOf(this.bosToken);
  }
  get eosTokenId(): number | null {
    return this.idOf(this.eosToken);
  }
  get padTokenId(): number | null {
    return this.idOf(this.padToken);
  }
  get unkTokenId(): number | null {
    return this.idOf(this.unkToken);
  }
  get specialTokens(): readonly string[] {
    return [...this.specialSet];
  }
  private idOf(tok: string | null): number | null {
    return tok === null ? null : (this.tokenToId(tok) ?? null);
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    if (text.length === 0 && !opts.addSpecialTokens) return [];
    return this.hf.encode(text, { add_special_tokens: opts.addSpecialTokens ?? true }).ids;
  }

  encodeWithOffsets(text: string, opts: EncodeOptions = {}): Encoded {
    const enc = this.hf.encode(text, { add_special_tokens: opts.addSpecialTokens ?? true });
    let offsets = this.align(text, enc.tokens);
    if (!offsets && this.unicodeForm) offsets = this.alignNormalized(text, enc.tokens, this.unicodeForm);
    if (!offsets) throw new Error("tokenizer: cannot map tokens back to the text (a normalizer rewrites it)");
    return { ids: enc.ids, offsets };
  }

  private align(text: string, tokens: readonly string[]): [number, number][] | null {
    const bytes = utf8.encode(text);
    const byteOffsets = alignTokens(bytes, tokens, this.table, this.addedSet);
    if (!byteOffsets) return null;
    const toChar = byteToCharIndex(text, bytes.length);
    const offsets: [number, number][] = new Array(tokens.length);
    for (let i = 0; i < tokens.length; i++)
      offsets[i] = [toChar.start[byteOffsets[2 * i]!]!, toChar.end[byteOffsets[2 * i + 1]!]!];
    return offsets;
  }

  /**
   * A Unicode normalizer (e.g. Qwen2's NFC) rewrote the text: align against the normalized text, built
   * one character cluster at a time so that every normalized char knows the cluster it came from.
   */
  private alignNormalized(
    text: string,
    tokens: readonly string[],
    form: UnicodeForm,
  ): [number, number][] | null {
    const clusters = text.match(/\P{M}\p{M}*|\p{M}+/gsu) ?? [];
    let normalized = "";
    // origin[k]: start of the cluster of normalized char k; clusterEnd[k]: its end.
    const origin: number[] = [];
    const clusterEnd: number[] = [];
    let pos = 0;
    for (const c of clusters) {
      const n = c.normalize(form);
      for (let k = 0; k < n.length; k++) {
        origin.push(pos);
        clusterEnd.push(pos + c.length);
      }
      normalized += n;
      pos += c.length;
    }
    const inner = this.align(normalized, tokens);
    if (!inner) return null;
    // A token ending inside a cluster covers the whole cluster.
    const end = (b: number) =>
      b >= origin.length ? text.length : b > 0 && origin[b] === origin[b - 1] ? clusterEnd[b]! : origin[b]!;
    return inner.map(([a, b]) => [
      a >= origin.length ? text.length : origin[a]!,
      b === a ? (origin[a] ?? text.length) : end(b),
    ]);
  }

  decode(ids: readonly number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    if (ids.length === 0) return "";
    return this.hf.decode([...ids], {
      skip_special_tokens: opts.skipSpecialTokens ?? false,
    });
  }

  decodeAsWritten(ids: readonly number[]): string {
    if (!prependsPerRun(this.json)) return this.decode(ids);
    // Each run between added tokens decoded alone: the decoder strips the one "▁" the normalizer prepended.
    let text = "";
    let run: number[] = [];
    for (const id of ids) {
      const tok = this.idToToken(id);
      if (tok !== undefined && this.addedSet.has(tok)) {
        text += this.decode(run) + this.decode([id]);
        run = [];
      } else run.push(id);
    }
    return text + this.decode(run);
  }

  tokenToId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }
  idToToken(id: number): string | undefined {
    return this.hf.id_to_token(id);
  }

  templateContext(): Record<string, unknown> {
    return { ...this.special };
  }

  applyChatTemplate(messages: readonly Message[], opts: ChatTemplateOptions = {}): string {
    const template = opts.template ?? this.chatTemplate;
    if (template === null)
      throw new Error("tokenizer has no chat_template; pass { template } (see builtinTemplates)");
    const ctx: Record<string, unknown> = {
      ...this.templateContext(),
      ...opts.extra,
      messages,
      add_generation_prompt: opts.addGenerationPrompt ?? false,
    };
    if (opts.tools !== undefined) ctx.tools = opts.tools;
    return renderChatTemplate(template, ctx);
  }

  setSpecialToken(role: "bos" | "eos" | "pad" | "unk", content: string): void {
    if (this.tokenToId(content) === undefined)
      throw new Error(`cannot make "${content}" the ${role} token: it is not in the vocabulary`);
    this.special[`${role}_token`] = content;
    this[`${role}Token`] = content;
  }

  addTokens(tokens: readonly { content: string; special: boolean }[]): number[] {
    const added = [...((this.json.added_tokens ?? []) as AddedTokenJson[])];
    const ids: number[] = [];
    let next = this.vocabSize;
    for (const t of tokens) {
      const existing = this.tokenToId(t.content);
      if (existing !== undefined) {
        ids.push(existing);
        continue;
      }
      // transformers' AddedToken default: special tokens are matched on the raw text, others normalized.
      added.push({
        id: next,
        content: t.content,
        special: t.special,
        normalized: !t.special,
        lstrip: false,
        rstrip: false,
        single_word: false,
      });
      ids.push(next++);
    }
    this.json.added_tokens = added;
    this.rebuild();
    return ids;
  }
}

const WORD_BOUNDARY = /(?<=[^\u2581])(?=\u2581)/u;
const PREFIX_ONLY = /^\u2581*[^\u2581]*$/u;

/**
 * SentencePiece-style BPE (no pre-tokenizer) runs over the whole text, which is slow and defeats the
 * word cache. When no vocab token has "▁" after another character, no merge can cross the start of a
 * "▁word", so splitting there gives the same ids: a pre-tokenizer that splits is exact and much faster.
 */
function installWordSplit(hf: HfTokenizer, json: Json): void {
  const model = json.model as { type?: string; vocab?: Record<string, number> } | undefined;
  if (hf.pre_tokenizer !== null || model?.type !== "BPE" || !model.vocab) return;
  for (const token of Object.keys(model.vocab)) if (!PREFIX_ONLY.test(token)) return;
  const split = (text: string) => text.split(WORD_BOUNDARY);
  (hf as unknown as { pre_tokenizer: unknown }).pre_tokenizer = split;
}

/**
 * Byte offset -> UTF-16 index, rounding starts down and ends up to whole characters: a byte-fallback or
 * byte-level token holding part of a character covers that whole character (as HF offsets do).
 */
function byteToCharIndex(text: string, nBytes: number): { start: Int32Array; end: Int32Array } {
  const start = new Int32Array(nBytes + 1);
  const end = new Int32Array(nBytes + 1);
  let b = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const pair = c >= 0xd800 && c <= 0xdbff;
    const n = c < 0x80 ? 1 : c < 0x800 ? 2 : pair ? 4 : 3;
    const units = pair ? 2 : 1;
    for (let k = 0; k < n; k++) {
      start[b + k] = i;
      end[b + k] = k === 0 ? i : i + units;
    }
    b += n;
    if (pair) i++;
  }
  start[b] = text.length;
  end[b] = text.length;
  return { start, end };
}

/** A tokenizer from parsed JSON objects (tokenizer.json, tokenizer_config.json, special_tokens_map.json). */
export function createTokenizer(
  tokenizerJson: Json,
  config: Json = {},
  specialTokensMap: Json = {},
): Tokenizer {
  // Own copy: addTokens edits added_tokens.
  const json = { ...tokenizerJson, added_tokens: [...((tokenizerJson.added_tokens ?? []) as unknown[])] };
  return new HfBackedTokenizer(json, config, specialTokensMap);
}

async function readJson(path: string, required: boolean): Promise<Json> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as Json;
  } catch (e) {
    if (!required && (e as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
}

/** Loads a folder with tokenizer.json (+ tokenizer_config.json, special_tokens_map.json, chat_template.jinja). */
export async function loadTokenizer(dir: string): Promise<Tokenizer> {
  const [json, config, specialMap] = await Promise.all([
    readJson(join(dir, "tokenizer.json"), true),
    readJson(join(dir, "tokenizer_config.json"), false),
    readJson(join(dir, "special_tokens_map.json"), false),
  ]);
  if (config.chat_template === undefined) {
    // Newer checkpoints ship the template as its own file.
    try {
      config.chat_template = await readFile(join(dir, "chat_template.jinja"), "utf8");
    } catch {}
  }
  return createTokenizer(json, config, specialMap);
}

/** Whether the normalizer prepends "▁" to every text run (split at added tokens), as legacy Llama's does. */
function prependsPerRun(json: Json): boolean {
  const text = JSON.stringify(json.normalizer ?? null);
  return text.includes('"type":"Prepend"') && JSON.stringify(json.decoder ?? null).includes('"type":"Strip"');
}
