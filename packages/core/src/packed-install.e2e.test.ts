// The packages as a user installs them: packed tarballs installed into fresh projects (npm CommonJS, npm ES
// module, pnpm) with a default `tsc --init`, type-checked, and `sft plan` / `sft run` on a recipe there.
// Offline: dependencies come from a registry on 127.0.0.1 that serves this workspace's installed packages.
import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "./testing/fixtures.ts";
import { installedClosure, type LocalRegistry, startLocalRegistry } from "./testing/local-registry.ts";
import { packPackages, pnpmCommand } from "./testing/pack-workspace.ts";

const recipeBody = (importLines: string, exportLine: string, model: string) => `${importLines}

${exportLine}({
  model: { path: ${model} },
  template: "chatml",
  tokens: { add: ["<|im_start|>", "<|im_end|>"], eos: "<|im_end|>" },
  data: { sources: { chat: { path: "chat.jsonl", format: "messages", eval: 0.1 } } },
  method: { kind: "lora", rank: 4 },
  train: { steps: 2 },
  output: { dir: "out" },
});
`;
const esmRecipe = recipeBody(
  'import { defineRecipe } from "@sftkit/core";\nimport { stories260K } from "@sftkit/recipes";',
  "export default defineRecipe",
  "stories260K",
);
const cjsRecipe = recipeBody(
  'import sft = require("@sftkit/core");\nimport recipes = require("@sftkit/recipes");',
  "export = sft.defineRecipe",
  "recipes.stories260K",
);

let root: string;
let tarballs: { core: string; recipes: string };
let registry: LocalRegistry;
const cleanEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    ([k]) => !/^(npm_|pnpm_|NODE_OPTIONS|NODE_PATH|VITEST|INIT_CWD)/i.test(k),
  ),
);

/** Runs a command without blocking this process: the registry serving the install lives in it. */
function sh(cwd: string, command: string[], allowFailure = false): Promise<{ status: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), { cwd, env: { ...cleanEnv, NO_COLOR: "1" } });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (!allowFailure && code !== 0) reject(new Error(`${command.join(" ")} failed (${code}):\n${out}`));
      else resolve({ status: code ?? 1, out });
    });
  });
}

function project(name: string, manifest: Record<string, unknown>): string {
  const dir = join(root, name);
  mkdirSync(dir);
  writeFileSync(
    join(dir, "package.json"),
    `${JSON.stringify({ name, version: "1.0.0", ...manifest }, null, 2)}\n`,
  );
  copyFileSync(join(repoRoot, "packages/recipes/data/stories-chat.jsonl"), join(dir, "chat.jsonl"));
  return dir;
}

const npmInstall = (dir: string) =>
  sh(dir, [
    "npm",
    "install",
    "--registry",
    registry.url,
    "--cache",
    join(root, "npm-cache"),
    "--no-audit",
    "--no-fund",
    "@sftkit/core",
    "@sftkit/recipes",
    "typescript",
  ]);

/** `tsc --init` (its defaults: nodenext, strict, exactOptionalPropertyTypes...) and a clean `tsc --noEmit`. */
async function typeChecks(dir: string, exec: string[]): Promise<void> {
  await sh(dir, [...exec, "tsc", "--init"]);
  const config = readFileSync(join(dir, "tsconfig.json"), "utf8");
  expect(config).toMatch(/"exactOptionalPropertyTypes": true/);
  const r = await sh(dir, [...exec, "tsc", "--noEmit"], true);
  expect(r.out).toBe("");
  expect(r.status).toBe(0);
}

async function plans(dir: string, exec: string[], recipe: string): Promise<string> {
  const r = await sh(dir, [...exec, "sft", "plan", recipe], true);
  expect(r.out).not.toMatch(/error|Platform node has already been set/);
  expect(r.status, r.out).toBe(0);
  expect(r.out).toMatch(/Method\s+lora · rank \d/);
  return r.out;
}

describe("the packed packages in fresh projects", () => {
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "sft-packed-"));
    tarballs = packPackages(root);
    const closure = installedClosure([join(repoRoot, "packages/core")], pnpmCommand);
    // The tarballs are served as if published: projects install @sftkit/core and @sftkit/recipes by name.
    registry = await startLocalRegistry(
      [...closure, join(repoRoot, "node_modules/typescript")],
      join(root, "tgz"),
      [tarballs.core, tarballs.recipes],
    );
  });
  afterAll(async () => {
    await registry?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it("ship JavaScript, declarations and source maps, no TypeScript sources", () => {
    const list = execFileSync("tar", ["-tzf", tarballs.core], { encoding: "utf8" }).split("\n");
    expect(list).toEqual(
      expect.arrayContaining([
        "package/dist/index.js",
        "package/dist/index.d.ts",
        "package/dist/index.js.map",
        "package/dist/cli/main.js",
        "package/recipe.schema.json",
      ]),
    );
    expect(list.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
    // Field descriptions reach editors: the declarations carry the schema's descriptions as TSDoc.
    const docs = execFileSync(
      "tar",
      ["-xzOf", tarballs.core, "package/dist/recipe/field-docs.generated.d.ts"],
      { encoding: "utf8" },
    );
    expect(docs).toMatch(/\/\*\* Peak learning rate[^\n]*\*\/\n\s*learningRate\?: unknown;/);
    const define = execFileSync("tar", ["-xzOf", tarballs.core, "package/dist/recipe/define.d.ts"], {
      encoding: "utf8",
    });
    expect(define).toMatch(/RecipeOf<Name extends string> = RecipeFieldDocs &/);
    const recipes = execFileSync("tar", ["-tzf", tarballs.recipes], { encoding: "utf8" });
    expect(recipes).toMatch(/package\/models\/stories260K\/model\.safetensors/);
    const manifest = JSON.parse(
      execFileSync("tar", ["-xzOf", tarballs.recipes, "package/package.json"], { encoding: "utf8" }),
    ) as { dependencies: Record<string, string> };
    expect(manifest.dependencies["@sftkit/core"]).toBe("0.1.0");
  });

  it("an npm init -y (CommonJS) project type-checks, and `sft plan recipe.ts` has no false errors", async () => {
    const dir = project("cjs", {});
    await npmInstall(dir);
    // Type-checked: a CommonJS-style recipe (.cts) and an ES module one (.mts) under the default config.
    writeFileSync(join(dir, "recipe.cts"), cjsRecipe);
    writeFileSync(join(dir, "recipe.mts"), esmRecipe);
    await typeChecks(dir, ["npx"]);
    // recipe.ts with `export default` in a CommonJS package: once { default: recipe }, four false errors.
    writeFileSync(join(dir, "recipe.ts"), esmRecipe);
    await plans(dir, ["npx"], "recipe.ts");
  });

  it('an npm ES module project ("type": "module") type-checks and runs 2 steps', async () => {
    const dir = project("esm", { type: "module" });
    await npmInstall(dir);
    writeFileSync(join(dir, "recipe.ts"), esmRecipe);
    await typeChecks(dir, ["npx"]);
    await plans(dir, ["npx"], "recipe.ts");
    const run = await sh(dir, ["npx", "sft", "run", "recipe.ts"], true);
    expect(run.status, run.out).toBe(0);
    expect(readFileSync(join(dir, "out/adapter/adapter_config.json"), "utf8")).toMatch(/"r": 4/);
  });

  it("`sft init` from the installed package writes a project that plans (model and data copied in)", async () => {
    const dir = join(root, "esm");
    const init = await sh(dir, ["npx", "sft", "init", "starter"]);
    expect(init.out).toMatch(/npx sft plan recipe\.ts/);
    // Its @sftkit/core resolves from ../node_modules, as after an install.
    await plans(join(dir, "starter"), ["npx"], "recipe.ts");
  });

  it("a pnpm project type-checks and plans", async () => {
    const dir = project("pnpm", { type: "module" });
    const pnpm = [...pnpmCommand, "--registry", registry.url, "--store-dir", join(root, "pnpm-store")];
    await sh(dir, [...pnpm, "add", "@sftkit/core", "@sftkit/recipes", "typescript"]);
    writeFileSync(join(dir, "recipe.ts"), esmRecipe);
    await typeChecks(dir, [...pnpmCommand, "exec"]);
    await plans(dir, [...pnpmCommand, "exec"], "recipe.ts");
  });
});
