// Every recipe README.md and docs/*.md show compiles with the real compiler, and its samples train the declared
// end token after every trained turn (a model trained without it never learns to stop). Each block is written
// into a temporary project where its relative paths resolve:
//   <tmp>/models/stories260K          the shipped model (symlink)
//   <tmp>/node_modules/@sftkit/*      the workspace packages (symlinks), so `import ... from "@sftkit/core"` works
//   <tmp>/<block>/recipe.ts           the block; data/chat.jsonl and alpaca.json beside it (shipped example data)
// Hub models come from the stand-in cache (real architectures, stories260K's tokenizer, a chatml template).
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spans } from "../data/inspect/index.ts";
import { formatDiagnostic } from "../recipe/diagnostics.ts";
import { repoRoot } from "../testing/fixtures.ts";
import { makeHfStandInCache, withHubCache } from "../testing/hf-standins.ts";
import { type RecipeBlock, recipeBlocks } from "../testing/markdown-recipes.ts";
import { type CompileResult, compileRecipe } from "./compile.ts";

const pages = [
  "README.md",
  ...readdirSync(join(repoRoot, "docs"))
    .filter((f) => f.endsWith(".md"))
    .sort()
    .map((f) => `docs/${f}`),
];
const blocks = pages.flatMap((page) =>
  recipeBlocks(readFileSync(join(repoRoot, page), "utf8"), page).map((block) => ({ page, ...block })),
);

let root = "";
let hubCache = "";
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "sft-docs-recipes-"));
  writeFileSync(join(root, "package.json"), JSON.stringify({ type: "module" }));
  mkdirSync(join(root, "node_modules/@sftkit"), { recursive: true });
  for (const pkg of ["core", "recipes"])
    symlinkSync(join(repoRoot, "packages", pkg), join(root, "node_modules/@sftkit", pkg));
  mkdirSync(join(root, "models"));
  symlinkSync(join(repoRoot, "examples/models/stories260K"), join(root, "models/stories260K"));
  hubCache = makeHfStandInCache();
});
afterAll(() => {
  for (const dir of [root, hubCache]) if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A project folder for one block: the example data, the page's `file` blocks, and the block as recipe.ts. */
function project(page: string, block: RecipeBlock): string {
  const dir = join(root, `${page.replace(/\W+/g, "-")}-${block.line}`);
  mkdirSync(join(dir, "data"), { recursive: true });
  copyFileSync(join(repoRoot, "examples/quickstart/data/chat.jsonl"), join(dir, "data/chat.jsonl"));
  copyFileSync(join(repoRoot, "examples/random-init/data/alpaca.json"), join(dir, "alpaca.json"));
  for (const other of blocks) {
    if (other.page === page && other.savedAs) writeFileSync(join(dir, other.savedAs), `${other.code}\n`);
  }
  const file = join(dir, "recipe.ts");
  writeFileSync(file, `${block.code}\n`);
  return file;
}

/** Why the compiled samples fail to train the declared end token after every trained span, or null. */
function endTokenProblem(r: CompileResult): string | null {
  const tokenizer = r.resolved?.tokenizer;
  const prepared = r.data?.prepared;
  if (!tokenizer || !prepared || !r.resolved) return "the compile produced no tokenizer or no data";
  const eos = r.resolved.recipe.tokens.eos;
  const declared =
    eos === undefined
      ? tokenizer.eosToken
      : typeof eos === "string"
        ? eos
        : "vocab" in eos
          ? eos.vocab
          : null;
  const eosId = declared === null ? tokenizer.eosTokenId : (tokenizer.tokenToId(declared) ?? null);
  if (eosId === null || eosId !== tokenizer.eosTokenId)
    return `the declared end token ${declared} is not the tokenizer's EOS (${tokenizer.eosToken})`;
  const samples = Object.values(prepared.train).flat();
  if (samples.length === 0) return "no training samples";
  for (const s of samples) {
    const trained = spans(s).filter((x) => x.trained);
    const open = trained.find((x) => x.ids.at(-1) !== eosId);
    if (trained.length === 0 || open) {
      const shown = open ? open.ids.slice(-8) : [];
      return (
        `${s.origin.file}:${s.origin.line ?? s.origin.index}: a trained span does not end with ${declared} (id ${eosId}); ` +
        `it ends ${JSON.stringify(shown.map((id) => tokenizer.idToToken(id)))}`
      );
    }
  }
  return null;
}

describe("the recipes in README.md and docs/", () => {
  it("finds every recipe block (a parsing regression must not make this test vacuous)", () => {
    expect(blocks.map((b) => `${b.page}:${b.expect.kind}`)).toEqual([
      "README.md:recipe",
      "README.md:error",
      "docs/diagnostics.md:error",
      "docs/getting-started.md:recipe",
      "docs/recipes.md:recipe",
      "docs/recipes.md:recipe",
    ]);
  });

  for (const block of blocks) {
    const expected = block.expect;
    const name = `${block.page}:${block.line}`;
    switch (expected.kind) {
      case "fragment": // shown for illustration, not compiled
        break;
      case "error":
        it(`${name} fails with ${expected.code}`, async () => {
          const { r, shown } = await compileBlock(block);
          expect(
            r.diagnostics.filter((d) => d.severity === "error").map((d) => d.code),
            shown,
          ).toEqual([expected.code]);
          // The compiler output the page shows right after the block is what the compiler prints.
          if (block.output) expect(shown).toBe(block.output);
        });
        break;
      case "recipe":
        it(`${name} compiles and trains its end token`, async () => {
          const { r, shown } = await compileBlock(block);
          expect(r.diagnostics, shown).toEqual([]);
          expect(endTokenProblem(r)).toBeNull();
        });
        break;
    }
  }
});

/** Compiles a page's block in its project folder; `shown` is what the compiler prints. */
async function compileBlock(
  block: RecipeBlock & { page: string },
): Promise<{ r: CompileResult; shown: string }> {
  const file = project(block.page, block);
  const r = await withHubCache(hubCache, () => compileRecipe(file, { write: false }));
  const shown = r.diagnostics
    .map((d) => formatDiagnostic(d, { color: false, cwd: dirname(file) }))
    .join("\n");
  return { r, shown };
}

describe("recipeBlocks", () => {
  const page = [
    "```ts",
    'defineRecipe({ model: { path: "m" } })',
    "```",
    "<!-- recipe: fragment -->",
    "```typescript",
    "export default defineRecipe({",
    "```",
    "```ts",
    'const plan = await compile("recipe.ts");',
    "```",
    "<!-- recipe: error sft/unknown-key; file base.ts -->",
    "",
    "```ts",
    "extendRecipe(base, { trian: {} })",
    "```",
    "",
    "```",
    "recipe.ts:1:21 error trian",
    "```",
  ].join("\n");

  it("takes the TypeScript fences that define a recipe, with their markers and output", () => {
    expect(recipeBlocks(page)).toEqual([
      {
        line: 1,
        code: 'defineRecipe({ model: { path: "m" } })',
        expect: { kind: "recipe" },
        savedAs: null,
        output: null,
      },
      {
        line: 5,
        code: "export default defineRecipe({",
        expect: { kind: "fragment" },
        savedAs: null,
        output: null,
      },
      {
        line: 13,
        code: "extendRecipe(base, { trian: {} })",
        expect: { kind: "error", code: "sft/unknown-key" },
        savedAs: "base.ts",
        output: "recipe.ts:1:21 error trian",
      },
    ]);
  });

  it("rejects a marker it does not know, or one on a block that is not a recipe", () => {
    expect(() => recipeBlocks("<!-- recipe: fragmnet -->\n```ts\ndefineRecipe({})\n```", "p.md")).toThrow(
      "p.md:2: unknown recipe marker `fragmnet`",
    );
    expect(() => recipeBlocks("<!-- recipe: fragment -->\n```ts\nconst x = 1;\n```", "p.md")).toThrow(
      "not a recipe",
    );
  });
});
