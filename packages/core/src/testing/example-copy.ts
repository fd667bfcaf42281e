// The examples copied into a temporary folder with the repository's layout (models and the @sftkit packages
// linked), so a test that plans or runs an example writes its out/ there, never into the user's own out/.
import { cpSync, mkdirSync, mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "./fixtures.ts";

export interface ExamplesCopy {
  /** Stands for the repository root: examples/ and out/ lie under it. */
  root: string;
  /** examples/<name>/recipe.ts in the copy. */
  recipe(name: string): string;
  /** The example's output folder in the copy (its recipes say ../../out/<name>). */
  out(name: string): string;
}

const linked = new Set(["models", "node_modules"]);

/** Copies every example (recipes and data; not caches) and links the model folder and node_modules. */
export function copyExamples(prefix = "sft-examples-"): ExamplesCopy {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const from = join(repoRoot, "examples");
  const to = join(root, "examples");
  mkdirSync(to);
  cpSync(from, to, {
    recursive: true,
    filter: (src) => {
      const top = src.slice(from.length + 1).split(/[\\/]/)[0] ?? "";
      return !linked.has(top) && !src.includes(".sft-cache");
    },
  });
  for (const name of linked) symlinkSync(join(from, name), join(to, name));
  return {
    root,
    recipe: (name) => join(to, name, "recipe.ts"),
    out: (name) => join(root, "out", name),
  };
}
