// `sft generate`: text from a model folder, through its chat template when it has one.
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { defineCommand } from "citty";
import { loadTokenizer, type Tokenizer } from "../../data/tokenizer/index.ts";
import type { Message } from "../../data/types.ts";
import { findAdapterBase } from "../../export/base-model.ts";
import type { BackendChoice } from "../../model/backend.ts";
import { resolveHubModel } from "../../model/hub-cache.ts";
import type { AdapterHooks } from "../../model/llama.ts";

// Tokens that end a turn in common chat templates; used as stop ids when the vocabulary has them.
const END_OF_TURN = ["<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "</s>"];

export class GenerateArgsError extends Error {
  override name = "GenerateArgsError";
}

export interface GenerateRequest {
  /** Model folder or hub id; with an adapter, defaults to the base its adapter_config.json names. */
  model?: string;
  adapter?: string;
  prompt?: string;
  messages?: string;
  maxNewTokens?: number;
  temperature?: number;
  topP?: number;
  seed?: number;
  backend?: BackendChoice;
  /** Receives text as it is generated (a plain continuation's prompt first). */
  write?: (chunk: string) => void;
}

export interface GenerateOutput {
  /** The prompt as the model saw it (after the chat template). */
  promptText: string;
  promptIds: number[];
  ids: number[];
  text: string;
  stopReason: string;
}

function num(
  v: string | number | undefined,
  name: string,
  check: (n: number) => boolean,
): number | undefined {
  if (v === undefined || v === "") return undefined;
  const n = typeof v === "number" ? v : Number(v);
  if (!Number.isFinite(n) || !check(n)) throw new GenerateArgsError(`--${name}: invalid value "${v}"`);
  return n;
}

function resolveModelDir(model: string): string {
  if (existsSync(model)) return model;
  const hub = resolveHubModel(model);
  if (hub) return hub.dir;
  throw new GenerateArgsError(`--model ${model}: no such folder, and not found in the Hugging Face cache`);
}

/** The base an adapter names (a path relative to the adapter folder, or a hub id in the cache). */
function adapterBaseDir(adapter: string | undefined): string {
  if (adapter === undefined)
    throw new GenerateArgsError("give --model DIR (or --adapter DIR of a saved adapter)");
  const found = findAdapterBase(adapter);
  if (found.dir) return found.dir;
  throw new GenerateArgsError(
    `--adapter ${adapter}: its base ${found.name === null ? "is not recorded" : `"${found.name}" is neither a folder (relative to the adapter) nor in the Hugging Face cache`}; give --model DIR`,
  );
}

async function readMessages(file: string): Promise<Message[]> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, "utf8"));
  } catch (e) {
    throw new GenerateArgsError(`--messages ${file}: ${(e as Error).message}`);
  }
  const list = Array.isArray(json) ? json : (json as { messages?: unknown }).messages;
  if (
    !Array.isArray(list) ||
    !list.every((m) => typeof m?.role === "string" && typeof m?.content === "string")
  )
    throw new GenerateArgsError(
      `--messages ${file}: expected a JSON array of {role, content} (or {"messages": [...]})`,
    );
  return list as Message[];
}

function stopIds(tok: Tokenizer, configEos: number | number[] | null, genEos: unknown): number[] {
  const ids = new Set<number>();
  const add = (v: unknown) => {
    if (typeof v === "number") ids.add(v);
    else if (Array.isArray(v)) for (const x of v) add(x);
  };
  add(configEos);
  add(genEos);
  if (tok.eosTokenId !== null) ids.add(tok.eosTokenId);
  for (const t of END_OF_TURN) {
    const id = tok.tokenToId(t);
    if (id !== undefined && tok.specialTokens.includes(t)) ids.add(id);
  }
  return [...ids];
}

/** Sampling settings of one reply. */
export interface SamplingOptions {
  maxNewTokens: number;
  temperature: number;
  topP: number;
  seed: number;
}

/** A loaded model (with its adapter and tokenizer) that streams replies; `sft generate` and `sft chat` share it. */
export interface ModelSession {
  tok: Tokenizer;
  /** The folder the tokenizer came from (the adapter's when it carries one). */
  tokenizerDir: string;
  /** The BOS id a plain continuation starts with (the model's, else the tokenizer's). */
  bosTokenId: number | null;
  /** Prompt ids for a chat: the template's text, with its own BOS. */
  chatPrompt(messages: Message[]): { text: string; ids: number[] };
  /** Generates after `promptIds`, streaming decoded text to `write`; stops at EOS / end-of-turn ids. */
  reply(
    promptIds: number[],
    sampling: SamplingOptions,
    write?: (chunk: string) => void,
  ): Promise<{ ids: number[]; text: string; stopReason: string }>;
  dispose(): void;
}

/** Sampling flags as given (numbers, or the CLI's strings), checked, with their defaults. */
export interface SamplingFlags {
  maxNewTokens?: number | string | undefined;
  temperature?: number | string | undefined;
  topP?: number | string | undefined;
  seed?: number | string | undefined;
}

export function samplingOptions(req: SamplingFlags): SamplingOptions {
  return {
    maxNewTokens: num(req.maxNewTokens, "max-new-tokens", (n) => Number.isInteger(n) && n > 0) ?? 128,
    temperature: num(req.temperature, "temperature", (n) => n >= 0) ?? 0,
    topP: num(req.topP, "top-p", (n) => n > 0 && n <= 1) ?? 1,
    seed: num(req.seed, "seed", Number.isInteger) ?? 0,
  };
}

/** Loads the model, its adapter and tokenizer (TensorFlow.js only now, so the CLI starts fast). */
export async function openModelSession(
  req: Pick<GenerateRequest, "model" | "adapter" | "backend">,
): Promise<ModelSession> {
  if (req.adapter !== undefined && !existsSync(join(req.adapter, "adapter_config.json")))
    throw new GenerateArgsError(`--adapter ${req.adapter}: no adapter_config.json there`);
  const modelDir = req.model !== undefined ? resolveModelDir(req.model) : adapterBaseDir(req.adapter);
  // An adapter folder carries the tokenizer it was trained with (added tokens, chat template).
  const dir =
    req.adapter !== undefined && existsSync(join(req.adapter, "tokenizer.json")) ? req.adapter : modelDir;
  if (!existsSync(join(dir, "tokenizer.json"))) throw new GenerateArgsError(`${dir}: no tokenizer.json`);

  const { initBackend } = await import("../../model/backend.ts");
  const { loadModel } = await import("../../model/llama.ts");
  const { generate } = await import("../../engines/tfjs/generate.ts");
  await initBackend({ backend: req.backend });
  const tok = await loadTokenizer(dir);
  let genEos: unknown = null;
  try {
    genEos = (
      JSON.parse(await readFile(join(dir, "generation_config.json"), "utf8")) as { eos_token_id?: unknown }
    ).eos_token_id;
  } catch {}
  const model = await loadModel(modelDir);
  let adapter: { hooks: AdapterHooks; dispose(): void } | null = null;
  if (req.adapter !== undefined) {
    const { applyAdapter } = await import("../../methods/load.ts");
    try {
      adapter = await applyAdapter(model, req.adapter, tok.vocabSize);
    } catch (e) {
      model.dispose();
      throw new GenerateArgsError(`--adapter: ${(e as Error).message}`);
    }
  }
  const stops = stopIds(tok, model.config.eosTokenId, genEos);
  return {
    tok,
    tokenizerDir: dir,
    bosTokenId: model.config.bosTokenId ?? tok.bosTokenId,
    chatPrompt(messages) {
      const text = tok.applyChatTemplate(messages, { addGenerationPrompt: true });
      // The template writes its own BOS.
      return { text, ids: tok.encode(text, { addSpecialTokens: false }) };
    },
    async reply(promptIds, sampling, write) {
      let shown = "";
      const out: number[] = [];
      const res = await generate(model, promptIds, {
        ...sampling,
        stopIds: stops,
        hooks: adapter?.hooks,
        onToken: (id) => {
          out.push(id);
          if (write) {
            const s = tok.decode(out, { skipSpecialTokens: true });
            // Hold back text that may still change (an incomplete UTF-8 sequence decodes to U+FFFD).
            if (s.startsWith(shown) && !s.endsWith("\uFFFD")) {
              write(s.slice(shown.length));
              shown = s;
            }
          }
          return undefined;
        },
      });
      const text = tok.decode(res.ids, { skipSpecialTokens: true });
      if (write && text.startsWith(shown) && text.length > shown.length) write(text.slice(shown.length));
      return { ids: res.ids, text, stopReason: res.stopReason };
    },
    dispose() {
      adapter?.dispose();
      model.dispose();
    },
  };
}

/** Loads the model and tokenizer, builds the prompt and generates. */
export async function runGenerate(req: GenerateRequest): Promise<GenerateOutput> {
  if ((req.prompt === undefined) === (req.messages === undefined))
    throw new GenerateArgsError("give exactly one of --prompt TEXT or --messages FILE");
  const sampling = samplingOptions(req);
  const messages = req.messages !== undefined ? await readMessages(req.messages) : null;
  const session = await openModelSession(req);
  try {
    const { tok } = session;
    let promptText: string;
    let promptIds: number[];
    if (tok.chatTemplate) {
      ({ text: promptText, ids: promptIds } = session.chatPrompt(
        messages ?? [{ role: "user", content: req.prompt ?? "" } as Message],
      ));
    } else {
      if (messages)
        throw new GenerateArgsError(`--messages: ${session.tokenizerDir} has no chat template; use --prompt`);
      promptText = req.prompt ?? "";
      promptIds = tok.encode(promptText);
      const bos = session.bosTokenId;
      if (bos !== null && promptIds[0] !== bos) promptIds = [bos, ...promptIds];
      // A plain continuation reads best with its prompt in front.
      req.write?.(promptText);
    }
    const res = await session.reply(promptIds, sampling, req.write);
    return { promptText, promptIds, ...res };
  } finally {
    session.dispose();
  }
}

export const generateCommand = defineCommand({
  meta: {
    name: "generate",
    description: "Generate text with a model folder (its chat template when it has one)",
  },
  args: {
    model: {
      type: "string",
      description:
        "Model folder (config.json, safetensors, tokenizer) or hub id; with --adapter, defaults to the base the adapter names",
    },
    adapter: {
      type: "string",
      description: "PEFT adapter folder (LoRA or prefix tuning) to apply on the model",
    },
    prompt: { type: "string", description: "Prompt text (a user turn when the model has a chat template)" },
    messages: { type: "string", description: "JSON file with [{role, content}, ...]" },
    "max-new-tokens": { type: "string", description: "Tokens to generate (default 128)" },
    temperature: { type: "string", description: "0 = greedy (default)" },
    "top-p": { type: "string", description: "Nucleus sampling mass (default 1)" },
    seed: { type: "string", description: "Sampling seed (default 0)" },
    backend: {
      type: "string",
      description: "auto | tensorflow | wasm | cpu (default: $SFTKIT_BACKEND or auto)",
    },
  },
  async run({ args }) {
    try {
      const res = await runGenerate({
        model: args.model,
        adapter: args.adapter,
        prompt: args.prompt,
        messages: args.messages,
        maxNewTokens: num(args["max-new-tokens"], "max-new-tokens", (n) => Number.isInteger(n) && n > 0),
        temperature: num(args.temperature, "temperature", (n) => n >= 0),
        topP: num(args["top-p"], "top-p", (n) => n > 0 && n <= 1),
        seed: num(args.seed, "seed", Number.isInteger),
        backend: args.backend as BackendChoice | undefined,
        write: (s) => process.stdout.write(s),
      });
      process.stdout.write("\n");
      process.stderr.write(
        `[${res.promptIds.length} prompt + ${res.ids.length} new tokens, stop: ${res.stopReason}]\n`,
      );
    } catch (e) {
      process.stderr.write(`sft generate: ${(e as Error).message}\n`);
      process.exitCode = 1;
    }
  },
});
