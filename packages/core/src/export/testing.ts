// Shared by the export tests: a small data set in a temporary folder and recipes over stories260K.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
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
};

/** A recipe over both sources: chat weighted 1.5 with 2 eval rows, story drawn 8 times per epoch. */
export function recipeFor(data: { dir: string; chat: string; story: string }, over: Overrides) {
  return defineRecipe({
    name: `export-${over.method?.kind ?? "lora"}`,
    model: { path: modelDir },
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

/** Output text with machine-specific paths (and the recipe hash, which covers them) replaced, for golden files. */
export function normalise(text: string, tmp: string): string {
  return text
    .split(tmp)
    .join("<tmp>")
    .split(repo)
    .join("<repo>")
    .replace(/recipe hash [0-9a-f]{12}/g, "recipe hash <hash>");
}
