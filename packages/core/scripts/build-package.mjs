// Builds a workspace package for packing: its TypeScript sources compile to dist/ (JavaScript, .d.ts, source
// maps). Run from the package folder (`prepack`). The clone keeps running the .ts sources; only packs use dist/.
// `--copy FROM:TO` copies a file or folder of the repository into the package (files it ships from elsewhere).
import { spawnSync } from "node:child_process";
import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const dist = join(process.cwd(), "dist");
rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(join(process.cwd(), "package.json")).resolve("typescript/bin/tsc");
const built = spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { stdio: "inherit" });
if (built.status !== 0) process.exit(built.status ?? 1);

// tsc rewrites relative `.ts` imports to `.js` in JavaScript, not in declarations: a consumer's tsc would then
// ask for allowImportingTsExtensions (TS5097), so the declarations get the same rewrite.
const relativeTs = /((?:from|import)\s*\(?\s*["'])(\.{1,2}\/[^"']+)\.ts(["'])/g;
for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith(".d.ts")) continue;
  const file = join(entry.parentPath, entry.name);
  const text = readFileSync(file, "utf8");
  const rewritten = text.replace(relativeTs, "$1$2.js$3");
  if (rewritten !== text) writeFileSync(file, rewritten);
}

const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] !== "--copy") continue;
  const [from, to] = (args[++i] ?? "").split(":");
  if (!from || !to) throw new Error("--copy FROM:TO");
  rmSync(to, { recursive: true, force: true });
  cpSync(from, to, { recursive: true });
}
