// Shared by the export tests: a small data set in a temporary folder and recipes over stories260K.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { defineRecipe } from "../recipe/define.ts";
import type { RecipeInput } from "../recipe/schema/recipe.ts";

export const repo = join(import.meta.dirname, "../../../..");
export const modelDir = join(repo, "examples/models/stories260K");

export const template =
  "{{ bos_token }}{% for m in messages %}{% if m.role == 'user' %}<|user|>{{ m.content }}<|end|>" +
  "{% elif m.role == 'assistant' %}<|assistant|>{{ m.content }}<|end|>{% endif %}{% endfor %}" +
  "{% if add_generation_prompt %}<|assistant|>{% endif %}";

const names = ["Tim", "Anna", "Max", "Lily", "Sue", "Ben", "Mia", "Sam", "Zoe", "Tom", "Kim", "Leo"];

/** A chat source (one row filtered by minChars, one turn marked train: false) and a completion source. */
export function writeData(): { dir: string; chat: string; story: string } {
  const dir = mkdtempSync(join(tmpdir(), "sft-export-"));
  mkdirSync(join(dir, "data"));
  const chat = names.map((n, i) => ({
    messages: [
      { role: "user", content: `Where does ${n} play?` },
      { role: "assistant", content: `${n} plays in the park ${i + 1} times a day.` },
      ...(i % 4 === 0
        ? [
            { role: "user", content: "And then?" },
            { role: "assistant", content: "Then the sun went down.", train: i % 8 === 0 ? false : undefined },
          ]
        : []),
    ],
  }));
  chat.push({
    messages: [
      { role: "user", content: "Hi" },
      { role: "assistant", content: "Yo" },
    ],
  });
  const story = names.slice(0, 5).map((n) => ({ text: `Once upon a time, ${n} found a big red ball.` }));
  const chatFile = join(dir, "data/chat.jsonl");
  const storyFile = join(dir, "data/story.jsonl");
  writeFileSync(chatFile, chat.map((r) => JSON.stringify(r)).join("\n"));
  writeFileSync(storyFile, story.map((r) => JSON.stringify(r)).join("\n"));
  return { dir, chat: chatFile, story: storyFile };
}

export type Overrides = Partial<Pick<RecipeInput, "method" | "train" | "scale" | "tokens">> & {
  /** A row predicate on the chat source (filters.where). */
  where?: (row: Record<string, unknown>) => boolean;
  /** Model folder (default: stories260K). */
  modelPath?: string;
};

/** A recipe over both sources: chat weighted 1.5 with 2 eval rows, story drawn 8 times per epoch. */
export function recipeFor(data: { dir: string; chat: string; story: string }, over: Overrides) {
  return defineRecipe({
    name: `export-${over.method?.kind ?? "lora"}`,
    model: { path: over.modelPath ?? modelDir },
    template: { jinja: template },
    tokens: over.tokens ?? { add: ["<|user|>", "<|assistant|>", "<|end|>"], eos: "<|end|>" },
    data: {
      sources: {
        chat: {
          path: data.chat,
          format: "messages",
          eval: 2,
          weight: 1.5,
          filters: { minChars: 20, ...(over.where ? { where: over.where } : {}) },
        },
        story: { path: data.story, format: "completion", samples: 8 },
      },
      cacheDir: relative(import.meta.dirname, join(data.dir, "cache")),
    },
    method: over.method ?? { kind: "lora" },
    train: { maxLength: 64, tokensPerMicroBatch: 256, ...over.train },
    ...(over.scale ? { scale: over.scale } : {}),
    output: { dir: join(data.dir, "out") },
  } as RecipeInput);
}

/** A copy of stories260K in `dir` with its own (untied) lm_head, as most 7B+ Llama and Mistral bases have. */
export function writeUntiedModel(dir: string): string {
  const out = join(dir, "stories260K-untied");
  cpSync(modelDir, out, { recursive: true });
  const config = JSON.parse(readFileSync(join(out, "config.json"), "utf8")) as Record<string, unknown>;
  writeFileSync(join(out, "config.json"), JSON.stringify({ ...config, tie_word_embeddings: false }, null, 2));
  // An untied model has its own lm_head (sft plan checks the weights against the config): the embedding's copy.
  const file = join(out, "model.safetensors");
  const bytes = readFileSync(file);
  const headerLen = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLen).toString("utf8")) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const data = bytes.subarray(8 + headerLen);
  const embed = header["model.embed_tokens.weight"]!;
  const [begin, end] = embed.data_offsets;
  header["lm_head.weight"] = { ...embed, data_offsets: [data.length, data.length + end - begin] };
  let text = JSON.stringify(header);
  text += " ".repeat((8 - ((Buffer.byteLength(text) + 8) % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(Buffer.byteLength(text)));
  writeFileSync(file, Buffer.concat([length, Buffer.from(text), data, data.subarray(begin, end)]));
  return out;
}

/**
 * Output text with machine-specific paths (and the recipe hash, which covers them) replaced, for golden files;
 * `out`: the export folder, from which the repository's paths are written relative.
 */
export function normalise(text: string, tmp: string, out?: string): string {
  const fromOut = out ? text.split(`"${relative(out, repo)}/`).join('"<repo relative to out>/') : text;
  return fromOut
    .split(tmp)
    .join("<tmp>")
    .split(repo)
    .join("<repo>")
    .replace(/recipe hash [0-9a-f]{12}/g, "recipe hash <hash>");
}
