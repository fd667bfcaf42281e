// End-to-end run on a real-size model (not a test: minutes, gigabytes): a Qwen2.5-0.5B-shaped random
// checkpoint written to disk in HF format (bf16), LoRA r16 all-linear on the native engine through
// `train()` — what `sft run` does — on the quickstart's chat data. It checks what a user relies on:
// a run stopped and resumed ends with the same adapter bytes and losses as one uninterrupted run, and
// the merged model loaded back by `loadModel` gives the logits of base + adapter.
// Env: BENCH_E2E_STEPS (3), BENCH_E2E_LENGTH (maxLength, 128), BENCH_ENGINE (native).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resourceUsage } from "node:process";
import { compileRecipe } from "../packages/core/src/compile/compile.ts";
import { applyAdapter } from "../packages/core/src/methods/load.ts";
import { loadModel, type Model } from "../packages/core/src/model/index.ts";
import type { RecipeInput } from "../packages/core/src/recipe/schema/recipe.ts";
import { type RunResult, train } from "../packages/core/src/train/index.ts";
import { ensureCheckpoint, QWEN_05B } from "./models.ts";

const repo = join(import.meta.dirname, "..");

function recipeFor(modelDir: string, outDir: string, engine: string, steps: number, maxLength: number) {
  return {
    name: "bench-native-e2e",
    model: { path: modelDir },
    template: {
      jinja:
        "{{ bos_token }}{% for m in messages %}{% if m.role == 'user' %}Q: {{ m.content }}\n" +
        "{% elif m.role == 'assistant' %}A: {{ m.content }} {{ eos_token }}{% endif %}{% endfor %}",
    },
    data: {
      sources: {
        chat: { path: join(repo, "examples/quickstart/data/chat.jsonl"), format: "messages", eval: 4 },
      },
    },
    method: { kind: "lora", rank: 16, alpha: 32, dropout: 0.05, targets: "all-linear" },
    train: {
      engine,
      steps,
      learningRate: 1e-3,
      maxLength,
      microBatchSize: 1,
      checkpointEvery: 1,
      eval: { maxSamples: 2 },
    },
    output: { dir: outDir, save: "both" },
  } as RecipeInput;
}

async function logits(model: Model, ids: number[], hooks?: object): Promise<Float32Array> {
  const batch = {
    batch: 1,
    seqLen: ids.length,
    ids: Int32Array.from(ids),
    labels: Int32Array.from(ids),
  };
  const t = model.logitsTensor(batch as never, { hooks: hooks as never });
  const out = (await t.data()) as Float32Array;
  t.dispose();
  return out;
}

const maxAbsDiff = (a: Float32Array, b: Float32Array) =>
  a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);

export default async function nativeE2e(): Promise<void> {
  const engine = process.env.BENCH_ENGINE ?? "native";
  const steps = Number(process.env.BENCH_E2E_STEPS ?? 3);
  const maxLength = Number(process.env.BENCH_E2E_LENGTH ?? 128);
  const modelDir = await ensureCheckpoint({ model: QWEN_05B, dtype: "BF16" });
  const quiet = { progress: "off" as const, handleSigint: false, samples: 0 };
  const compile = async (out: string) => {
    const c = await compileRecipe(recipeFor(modelDir, out, engine, steps, maxLength), { write: false });
    if (!c.plan) throw new Error(c.diagnostics.map((d) => `${d.code}: ${d.message}`).join("; "));
    if (c.plan.engine?.chosen !== engine)
      throw new Error(`engine ${engine} not chosen: ${c.plan.engine?.reason}`);
    return c;
  };
  const summary = (r: RunResult) =>
    `${r.steps} steps, loss ${r.loss?.toFixed(4)}, eval ${r.initialEvalLoss?.toFixed(4)} -> ${r.evalLoss?.toFixed(4)}, ${r.tokensPerSecond.toFixed(1)} tok/s`;

  const whole = mkdtempSync(join(tmpdir(), "sft-e2e-whole-"));
  const split = mkdtempSync(join(tmpdir(), "sft-e2e-split-"));
  try {
    const a = await compile(whole);
    const t0 = performance.now();
    const ra = await train(a.plan!, { ...quiet, compiled: a });
    console.log(`uninterrupted: ${summary(ra)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);

    const b = await compile(split);
    const rb1 = await train(b.plan!, { ...quiet, compiled: b, maxSteps: steps - 1 });
    const rb2 = await train(b.plan!, { ...quiet, compiled: b, resume: true });
    console.log(`stopped at ${rb1.steps}, resumed from ${rb2.resumedFrom}: ${summary(rb2)}`);
    const adapterOf = (dir: string) => readFileSync(join(dir, "adapter", "adapter_model.safetensors"));
    const sameAdapter = adapterOf(whole).equals(adapterOf(split));
    const losses = (dir: string) =>
      readFileSync(join(dir, "metrics.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { step: number; loss?: number })
        .filter((m) => m.loss !== undefined)
        .map((m) => `${m.step}:${m.loss}`);
    const sameLosses = losses(whole).join() === losses(split).join();
    console.log(`resume identical: adapter bytes ${sameAdapter}, step losses ${sameLosses}`);

    // base + adapter against the merged model, both loaded back from disk by loadModel (tfjs).
    const ids = [1, 17, 42, 311, 5, 99, 260, 7];
    const base = await loadModel(modelDir);
    const applied = await applyAdapter(base, join(whole, "adapter"));
    const viaAdapter = await logits(base, ids, applied.hooks);
    applied.dispose();
    base.dispose();
    const merged = await loadModel(join(whole, "model"));
    const viaMerged = await logits(merged, ids);
    merged.dispose();
    const diff = maxAbsDiff(viaAdapter, viaMerged);
    const scale = viaAdapter.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    console.log(
      `merged vs base + adapter logits: max |diff| ${diff.toExponential(2)} (max |logit| ${scale.toFixed(3)})`,
    );
    console.log(`peak RSS ${(resourceUsage().maxRSS / 1024 ** 2).toFixed(2)} GiB`);
    if (!sameAdapter || !sameLosses || !(diff < 1e-3)) {
      console.log("native e2e: FAILED");
      process.exitCode = 1;
    } else console.log("native e2e: ok");
  } finally {
    rmSync(whole, { recursive: true, force: true });
    rmSync(split, { recursive: true, force: true });
  }
}
