// Recipes that travel: a base recipe or preset in another folder (a package) keeps its relative paths
// pointing at its own files when another recipe extends or imports it.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileRecipe } from "./compile.ts";

const repo = join(import.meta.dirname, "../../../..");
const define = join(repo, "packages/core/src/recipe/define.ts");
let root: string;
let pkg: string;

/** A "package" folder with its own model path and chat data, both relative to its base.ts. */
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "sft-travel-"));
  writeFileSync(join(root, "package.json"), '{ "type": "module" }\n');
  pkg = join(root, "pkg");
  mkdirSync(join(pkg, "data"), { recursive: true });
  copyFileSync(join(repo, "packages/recipes/data/stories-chat.jsonl"), join(pkg, "data/chat.jsonl"));
  const model = relative(pkg, join(repo, "examples/models/stories260K"));
  writeFileSync(
    join(pkg, "base.ts"),
    `import { defineRecipe } from ${JSON.stringify(define)};
export default defineRecipe({
  model: { path: ${JSON.stringify(model)} },
  template: "chatml",
  tokens: { add: ["<|im_start|>", "<|im_end|>"], eos: "<|im_end|>" },
  data: { sources: { chat: { path: "data/chat.jsonl", format: "messages", eval: 0.1 } } },
  method: { kind: "lora", rank: 4, alpha: 8, targets: "all-linear" },
  train: { maxLength: 128 },
});
`,
  );
  writeFileSync(
    join(pkg, "preset.ts"),
    `import { definePreset } from ${JSON.stringify(define)};
export const chatData = definePreset({ sources: { chat: { path: "data/chat.jsonl", format: "messages" as const } } });
export const broken = definePreset({ sources: { chat: { path: "data/missing.jsonl", format: "messages" as const } } });
`,
  );
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A recipe in the app folder (no data of its own there unless `files` says so). */
function app(name: string, text: string, files: Record<string, string> = {}): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  for (const [f, body] of Object.entries(files)) writeFileSync(join(dir, f), body);
  const file = join(dir, "recipe.ts");
  writeFileSync(
    file,
    `import { defineRecipe, extendRecipe } from ${JSON.stringify(define)};\nimport base from "../pkg/base.ts";\nimport { chatData, broken } from "../pkg/preset.ts";\n${text}`,
  );
  return file;
}

const errors = (r: Awaited<ReturnType<typeof compileRecipe>>) =>
  r.diagnostics.filter((d) => d.severity === "error");
const opts = { write: false, readData: false } as const;

describe("relative paths resolve against the file that wrote them", () => {
  it("through extendRecipe: the base's model and data paths are the base file's", async () => {
    const r = await compileRecipe(app("a", 'export default extendRecipe(base, { name: "mine" });\n'), opts);
    expect(errors(r)).toEqual([]);
    expect(r.resolved?.model?.dir).toBe(join(repo, "examples/models/stories260K"));
    expect(r.resolved?.recipe.data.sources.chat?.path).toBe(join(pkg, "data/chat.jsonl"));
    // The output folder stays the running recipe's.
    expect(r.resolved?.outputDir).toBe(join(root, "a", "out", "mine"));
  });

  it("an override's path is the overriding file's", async () => {
    const file = app(
      "b",
      'export default extendRecipe(base, { data: { sources: { chat: { path: "mine.jsonl" } } } });\n',
      {
        "mine.jsonl":
          '{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}\n',
      },
    );
    const r = await compileRecipe(file, opts);
    expect(errors(r)).toEqual([]);
    // Written in this recipe: kept as written, relative to it.
    expect(r.resolved?.recipe.data.sources.chat?.path).toBe("mine.jsonl");
  });

  it("through an imported preset (definePreset): its data path is the preset file's", async () => {
    const r = await compileRecipe(
      app("c", 'export default defineRecipe({ ...base, name: "c", data: chatData });\n'),
      opts,
    );
    expect(errors(r)).toEqual([]);
    expect(r.resolved?.recipe.data.sources.chat?.path).toBe(join(pkg, "data/chat.jsonl"));
  });

  it("a missing file in a preset: the diagnostic names the file that wrote the path", async () => {
    const r = await compileRecipe(
      app("d", 'export default defineRecipe({ ...base, name: "d", data: broken });\n'),
      opts,
    );
    const missing = errors(r).find((d) => d.code === "sft/data-not-found");
    expect(missing?.message).toContain(join(pkg, "data/missing.jsonl"));
    expect(missing?.location?.file).toBe(join(pkg, "preset.ts"));
    expect(missing?.hint).toBe(
      `data is written in ${join(pkg, "preset.ts")}: a relative path there resolves against that file's folder`,
    );
  });
});
