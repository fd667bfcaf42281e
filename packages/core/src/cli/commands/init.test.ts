// `sft init` in a temporary folder outside the repository, then `sft plan` and a 2-step `sft run` there.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../../testing/fixtures.ts";
import { sftCommand } from "../invocation.ts";
import { initProject } from "./init.ts";
import { chatCommand } from "./run.ts";

const bin = join(repoRoot, "packages/core/bin/sft.js");
const sft = (cwd: string, args: string[], agent = "") =>
  spawnSync(process.execPath, [bin, ...args], {
    cwd,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", SFTKIT_THREADS: "1", npm_config_user_agent: agent },
  });

describe("sft init", () => {
  it("scaffolds a project outside the repository that plans and trains 2 steps", () => {
    const parent = mkdtempSync(join(tmpdir(), "sft-init-"));
    const init = sft(parent, ["init", "my-project"], "npm/11.0.0 node/v20");
    expect(init.status, init.stderr).toBe(0);
    expect(init.stdout).toContain("cd my-project && npx sft plan recipe.ts");
    const dir = join(parent, "my-project");
    for (const file of ["package.json", "tsconfig.json", "recipe.ts", "README.md", "data/chat.jsonl"])
      expect(existsSync(join(dir, file)), file).toBe(true);
    expect(existsSync(join(dir, "models/stories260K/model.safetensors"))).toBe(true);
    expect(readFileSync(join(dir, "README.md"), "utf8")).toContain("npx sft run recipe.ts");
    const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
      type: string;
      dependencies: Record<string, string>;
    };
    expect(manifest.type).toBe("module");
    expect(manifest.dependencies["@sftkit/core"]).toMatch(/^\^\d+\.\d+\.\d+$/);
    // What `npm install` would provide: @sftkit/core in the project's node_modules.
    mkdirSync(join(dir, "node_modules/@sftkit"), { recursive: true });
    symlinkSync(join(repoRoot, "packages/core"), join(dir, "node_modules/@sftkit/core"));

    const plan = sft(dir, ["plan", "recipe.ts"]);
    expect(plan.status, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/Method\s+lora · rank 8/);
    const run = sft(dir, ["run", "recipe.ts", "--max-steps", "2"]);
    expect(run.status, run.stderr).toBe(0);
    expect(existsSync(join(dir, "out/adapter/adapter_config.json"))).toBe(true);
  });

  it("refuses to overwrite a project", () => {
    const dir = mkdtempSync(join(tmpdir(), "sft-init-"));
    writeFileSync(join(dir, "recipe.ts"), "mine\n");
    expect(() => initProject(dir)).toThrow(/recipe\.ts exists/);
    expect(readFileSync(join(dir, "recipe.ts"), "utf8")).toBe("mine\n");
  });
});

describe("the sft command to print back", () => {
  it("follows the package manager that started sft", () => {
    expect(sftCommand({ npm_config_user_agent: "pnpm/10.34.9 npm/? node/v20.20.2 linux x64" })).toBe(
      "pnpm sft",
    );
    expect(
      sftCommand({ npm_config_user_agent: "npm/11.19.1 node/v20.20.2 linux x64 workspaces/false" }),
    ).toBe("npx sft");
    expect(sftCommand({ npm_config_user_agent: "yarn/1.22.0 npm/? node/v20" })).toBe("yarn sft");
    expect(sftCommand({})).toBe("sft");
  });
});

describe("the chat command printed after a run", () => {
  it("is written for the package manager that started sft", () => {
    const r = { artefacts: ["/p/out/adapter/adapter_model.safetensors"], outputDir: "/p/out" };
    expect(chatCommand(r, "/p/models/m", "npx sft")).toMatch(/^npx sft chat --model \S+ --adapter \S+$/);
    expect(chatCommand(r, "/p/models/m", "pnpm sft")).toMatch(/^pnpm sft chat --model /);
  });
});
