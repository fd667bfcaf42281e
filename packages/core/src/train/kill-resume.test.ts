// Fault injection: `sft run` killed (SIGKILL) at seeded random moments while it trains, checkpoints and
// writes its artefacts. After every kill nothing with a final name is partial, and --resume ends exactly
// where an uninterrupted run ends.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compileRecipe } from "../compile/compile.ts";
import { mulberry32 } from "../util/mulberry32.ts";
import { checkpointsDir } from "./checkpoint.ts";
import { checksumProblem } from "./checksums.ts";
import { chatData, plainTemplate, repo, storiesDir } from "./fixtures.testing.ts";

const bin = join(repo, "packages/core/bin/sft.js");
const env = { ...process.env, NO_COLOR: "1", SFTKIT_THREADS: "1" };
const args = (planFile: string) => [bin, "run", planFile, "--resume"];
// Temp names of util/atomic-write and train/checkpoint: the only names allowed to be partial.
const TEMP = /(\.tmp-\d+-[0-9a-f]{8}$)|(^\.(tmp|old)-step-\d+-\d+$)/;

/** A plan.json for the same compiled plan with its output in `outDir`. */
function planCopy(plan: object, outDir: string): string {
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, "..", `${outDir.split("/").at(-1)}.plan.json`);
  const p = JSON.parse(JSON.stringify(plan)) as { output: { dir: string } };
  p.output.dir = outDir;
  writeFileSync(file, JSON.stringify(p));
  return file;
}

/** A safetensors file is whole: its header parses and its data ends exactly at the end of the file. */
function safetensorsWhole(path: string): boolean {
  const buf = readFileSync(path);
  if (buf.length < 8) return false;
  const len = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + len).toString("utf8")) as Record<
    string,
    { data_offsets?: [number, number] }
  >;
  const end = Math.max(0, ...Object.values(header).map((t) => t.data_offsets?.[1] ?? 0));
  return buf.length === 8 + len + end;
}

/** Every file and folder with a final name in `outDir` is whole; returns the files checked. */
async function expectNothingPartial(outDir: string): Promise<string[]> {
  const checked: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (TEMP.test(e.name) || e.name === ".lock" || e.name.endsWith(".lock")) continue;
      if (e.isDirectory()) walk(path);
      else if (e.name.endsWith(".safetensors")) {
        expect(safetensorsWhole(path), path).toBe(true);
        checked.push(path);
      } else if (e.name.endsWith(".json")) {
        expect(() => JSON.parse(readFileSync(path, "utf8")), path).not.toThrow();
        checked.push(path);
      } else if (e.name === "metrics.jsonl") {
        // Appended line by line: only the last line may be torn by a kill.
        const lines = readFileSync(path, "utf8")
          .split("\n")
          .filter((l) => l.trim());
        for (const l of lines.slice(0, -1)) expect(() => JSON.parse(l), path).not.toThrow();
        checked.push(path);
      }
    }
  };
  if (existsSync(outDir)) walk(outDir);
  const root = checkpointsDir(outDir);
  for (const name of existsSync(root) ? readdirSync(root) : [])
    if (/^step-\d+$/.test(name)) expect(await checksumProblem(join(root, name)), name).toBeNull();
  return checked;
}

/** Step losses and the artefacts' bytes: what must match between an interrupted and an uninterrupted run. */
function outcome(outDir: string) {
  const steps = readFileSync(join(outDir, "metrics.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as { step: number; loss?: number; evalLoss?: number; gradNorm?: number })
    .filter((m) => m.loss !== undefined || m.evalLoss !== undefined)
    .map(({ step, loss, evalLoss, gradNorm }) => ({ step, loss, evalLoss, gradNorm }));
  const bytes = (f: string) => readFileSync(join(outDir, f)).toString("base64");
  return {
    steps,
    adapter: bytes("adapter/adapter_model.safetensors"),
    model: bytes("model/model.safetensors"),
  };
}

/**
 * Runs `sft run plan --resume`; with `killAt`, SIGKILLs it that many ms after its first optimizer step or
 * its resume (start-up before that is most of a run this small, and writes nothing). Returns stderr and
 * the ms from then to the exit. `extraEnv` can arm util/atomic-write's kill seam (SFTKIT_FAULT_KILL).
 */
function runChild(
  planFile: string,
  killAt?: number,
  extraEnv: Record<string, string> = {},
): Promise<{ status: number | null; stderr: string; trainingMs: number }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args(planFile), {
      env: { ...env, ...extraEnv },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    let started: number | null = null;
    let timer: NodeJS.Timeout | undefined;
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.stdout.on("data", (d: Buffer) => {
      if (started !== null || !/^(step \d+\/\d+|resuming from )/m.test(d.toString())) return;
      started = performance.now();
      if (killAt !== undefined) timer = setTimeout(() => child.kill("SIGKILL"), killAt);
    });
    child.on("exit", (status) => {
      clearTimeout(timer);
      resolve({ status, stderr, trainingMs: started === null ? 0 : performance.now() - started });
    });
  });
}

describe("kill -9 during a run", () => {
  it("never leaves a partial file under a final name, and --resume ends as an uninterrupted run", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sft-kill-"));
    const recipe = {
      name: "kill-resume",
      model: { path: storiesDir },
      template: { jinja: plainTemplate },
      data: { sources: { chat: { path: chatData, format: "messages", eval: 4, samples: 24 } } },
      method: { kind: "lora", rank: 4, alpha: 8, dropout: 0.1, targets: "all-linear" },
      train: {
        steps: 8,
        learningRate: 3e-3,
        maxLength: 128,
        tokensPerMicroBatch: 256,
        checkpointEvery: 1,
        checkpointKeep: 2,
        eval: { maxSamples: 4, every: 4 },
      },
      output: { dir: join(dir, "compiled"), save: "both" },
    };
    writeFileSync(join(dir, "package.json"), '{ "type": "module" }\n');
    writeFileSync(join(dir, "recipe.ts"), `export default ${JSON.stringify(recipe)};\n`);
    const compiled = await compileRecipe(join(dir, "recipe.ts"));
    expect(compiled.diagnostics.filter((d) => d.severity === "error")).toEqual([]);

    // The uninterrupted run, timed from its first step: kills land anywhere in that span.
    const reference = join(dir, "reference");
    const ref = await runChild(planCopy(compiled.plan!, reference));
    expect(ref.status, ref.stderr).toBe(0);
    expect(ref.trainingMs).toBeGreaterThan(0);

    const killed = join(dir, "killed");
    const planFile = planCopy(compiled.plan!, killed);
    const random = mulberry32(21);
    let checked = 0;
    const kills: number[] = [];
    for (let i = 0; i < 4; i++) {
      const ms = ref.trainingMs * random();
      const { status, stderr } = await runChild(planFile, ms);
      expect(stderr).not.toMatch(/\n\s+at .+:\d+:\d+\)?/);
      checked += (await expectNothingPartial(killed)).length;
      // A run that finished before its kill leaves nothing more to interrupt.
      if (status === 0) break;
      kills.push(Math.round(ms));
    }
    expect(kills.length).toBeGreaterThan(0);
    expect(checked).toBeGreaterThan(0);

    const last = await runChild(planFile);
    expect(last.status, last.stderr).toBe(0);
    await expectNothingPartial(killed);
    expect(outcome(killed)).toEqual(outcome(reference));

    // Killed while the merged model is written, right after a random one of its files: model/ is absent
    // (or, over an earlier one, that one), never a part of the folder beside a whole adapter/.
    const modelFiles = readdirSync(join(reference, "model")).sort();
    expect(modelFiles.length).toBeGreaterThan(2);
    const cut = join(dir, "cut-in-model");
    const cutPlan = planCopy(compiled.plan!, cut);
    const killInModel = () => ({
      SFTKIT_FAULT_KILL: `${1 + Math.floor(random() * (modelFiles.length - 1))}@${join(cut, "model")}`,
    });
    const fresh = await runChild(cutPlan, undefined, killInModel());
    expect(fresh.status, "killed by the seam").toBeNull();
    await expectNothingPartial(cut);
    expect(readdirSync(join(cut, "adapter")).length).toBeGreaterThan(0);
    if (existsSync(join(cut, "model"))) expect(readdirSync(join(cut, "model")).sort()).toEqual(modelFiles);
    const resumed = await runChild(cutPlan);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(outcome(cut)).toEqual(outcome(reference));
    // A finished run resumed writes its artefacts again: a kill then leaves the earlier model/ whole.
    const again = await runChild(cutPlan, undefined, killInModel());
    expect(again.status, "killed by the seam").toBeNull();
    await expectNothingPartial(cut);
    expect(readdirSync(join(cut, "model")).sort()).toEqual(modelFiles);
    expect(outcome(cut).model).toEqual(outcome(reference).model);
  }, 360_000);
});
