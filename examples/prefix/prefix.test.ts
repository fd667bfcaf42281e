// The prefix example does what its comment says: its own run (only the output folder moved to a temporary
// one) trains prefixes after which greedy answers end with the checkpoint's `<s>`, its declared end token.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { compileRecipe } from "../../packages/core/src/compile/compile.ts";
import { recipeSourceFile } from "../../packages/core/src/recipe/define.ts";
import { formatDiagnostics } from "../../packages/core/src/recipe/diagnostics.ts";
import { loadRecipeFile } from "../../packages/core/src/recipe/load.ts";
import { train } from "../../packages/core/src/train/loop.ts";

const file = join(import.meta.dirname, "recipe.ts");
const out = mkdtempSync(join(tmpdir(), "sft-example-prefix-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

it("examples/prefix: after its run, greedy answers end with its end token <s>", async () => {
  const loaded = await loadRecipeFile(file);
  if (!loaded.ok) throw new Error(formatDiagnostics(loaded.diagnostics));
  const recipe = { ...(loaded.value as object), output: { dir: out } };
  // Relative paths (model, data) stay relative to the example's file.
  Object.defineProperty(recipe, recipeSourceFile, { value: file });
  const compiled = await compileRecipe(recipe, { write: false });
  if (!compiled.plan) throw new Error(formatDiagnostics(compiled.diagnostics));
  expect(compiled.plan.tokenizer.eos?.text).toBe("<s>");

  const r = await train(compiled.plan, { compiled, progress: "off", handleSigint: false, samples: 2 });
  expect(r.evalLoss!).toBeLessThan(r.initialEvalLoss!);
  expect(r.samples).toHaveLength(2);
  for (const s of r.samples) expect(s.completion, JSON.stringify(s).slice(0, 300)).toMatch(/<s>$/);
}, 300_000);
