import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand } from "citty";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseYaml } from "../../export/yaml.ts";
import { exportCommand } from "./export.ts";

const repo = join(import.meta.dirname, "../../../../..");
const quickstart = join(repo, "examples/quickstart/recipe.ts");

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, "write").mockImplementation((s) => out.push(String(s)) > 0);
  vi.spyOn(process.stderr, "write").mockImplementation((s) => err.push(String(s)) > 0);
  return { out, err };
}

describe("sft export", () => {
  const dirs: string[] = [];
  afterEach(() => {
    vi.restoreAllMocks();
    process.exitCode = undefined;
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("writes the TRL files for the quickstart recipe", async () => {
    const out = mkdtempSync(join(tmpdir(), "sft-cli-export-"));
    dirs.push(out);
    const io = capture();
    await runCommand(exportCommand, { rawArgs: [quickstart, "--target", "trl", "--out", out] });
    vi.restoreAllMocks();
    expect(process.exitCode ?? 0).toBe(0);
    // 270 chat rows + 180 knowledge-probe samples (40% of the epoch).
    expect(io.out.join("")).toMatch(/Wrote 10 files .* \(450 train rows, 30 eval rows\)/);
    expect(readFileSync(join(out, "sft.yaml"), "utf8")).toContain("completion_only_loss: true");
  });

  it("--base-model is written as the base model the engine loads", async () => {
    const out = mkdtempSync(join(tmpdir(), "sft-cli-export-"));
    dirs.push(out);
    capture();
    const rawArgs = [quickstart, "--target", "axolotl", "--out", out, "--base-model", "Org/Base-7B"];
    await runCommand(exportCommand, { rawArgs });
    vi.restoreAllMocks();
    expect(process.exitCode ?? 0).toBe(0);
    const cfg = parseYaml(readFileSync(join(out, "axolotl.yaml"), "utf8")) as Record<string, unknown>;
    expect(cfg.base_model).toBe("Org/Base-7B");
  });

  it("exits 1 with an unknown target, naming it", async () => {
    const io = capture();
    await runCommand(exportCommand, { rawArgs: [quickstart, "--target", "megatron", "--out", tmpdir()] });
    vi.restoreAllMocks();
    expect(process.exitCode).toBe(1);
    expect(io.err.join("")).toContain("unknown --target `megatron`");
  });
});
