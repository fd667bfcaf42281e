// Packs @sftkit/core and @sftkit/recipes as a release would (`pnpm pack`: prepack builds dist/, workspace:
// versions become real ones), from a copy of the workspace in a temporary folder so nothing is built in the clone.
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "./fixtures.ts";

export const pnpmCommand = ["npx", "-y", "pnpm@10"];

/** The two tarballs' paths, packed into `into` (the workspace copy lies beside them under `into/workspace`). */
export function packPackages(into: string): { core: string; recipes: string } {
  const copy = join(into, "workspace");
  mkdirSync(copy, { recursive: true });
  for (const file of ["package.json", "pnpm-workspace.yaml", "tsconfig.json"])
    cpSync(join(repoRoot, file), join(copy, file));
  symlinkSync(join(repoRoot, "node_modules"), join(copy, "node_modules"));
  cpSync(join(repoRoot, "examples/models/stories260K"), join(copy, "examples/models/stories260K"), {
    recursive: true,
  });
  const skip = new Set(["node_modules", "dist", "starter", "models", "build"]);
  for (const name of readdirSync(join(repoRoot, "packages"))) {
    const from = join(repoRoot, "packages", name);
    const to = join(copy, "packages", name);
    // Other workspace packages only need their manifest (pnpm pack resolves workspace: versions from it).
    if (name !== "core" && name !== "recipes") {
      mkdirSync(to, { recursive: true });
      cpSync(join(from, "package.json"), join(to, "package.json"));
      continue;
    }
    cpSync(from, to, {
      recursive: true,
      filter: (src) => !skip.has(src.slice(from.length + 1).split(/[\\/]/)[0] ?? ""),
    });
    symlinkSync(join(from, "node_modules"), join(to, "node_modules"));
  }
  const pack = (name: string) => {
    const r = spawnSync(pnpmCommand[0]!, [...pnpmCommand.slice(1), "pack", "--pack-destination", into], {
      cwd: join(copy, "packages", name),
      encoding: "utf8",
    });
    // The build's (tsc's) errors go to stdout.
    if (r.status !== 0) throw new Error(`pnpm pack of ${name} failed:\n${r.stdout}${r.stderr}`);
    return r.stdout.trim().split("\n").at(-1)!.trim();
  };
  // recipes' build reads core's declarations from core's dist/: core first.
  return { core: pack("core"), recipes: pack("recipes") };
}
