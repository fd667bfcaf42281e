// The cuda engine's step on the GPU (bundled by prepare.sh into .device/cuda-step.mjs, since the GPU
// machine has no node_modules): `golden` compares one step per method with the committed golden files
// (compareGolden, bf16 tolerances); `bench` times a Qwen2.5-0.5B-shaped model, 8 x 1024 tokens, AdamW,
// rows lora (r16 all-linear), full, qlora: tokens/s and peak GPU memory, one JSON line each.
// With SFTKIT_CUDA_PROFILE=1, `bench` runs one more step per row of --profile-rows (default: every row)
// with each op timed (a sync after each; engines/cuda/profile.ts), and on a GPU one more with timing
// events around each op (no sync: GPU time and GPU idle per op), prints the tables and adds them to the
// row ("profile", "profile_events").
// `choice` prints every engine's availability and what `auto` picks for a Qwen2 LoRA plan.
// Usage: node cuda-step.mjs golden <goldens dir> [--host] | bench [--rows lora,full,qlora] [--steps N] [--out F] [--host] [--profile-rows lora] | choice
import { writeFileSync } from "node:fs";
import { createCudaEngine } from "../../packages/core/src/engines/cuda/engine.ts";
import {
  compareGolden,
  computeGolden,
  goldenPlan,
  readGolden,
} from "../../packages/core/src/engines/cuda/golden.ts";
import {
  formatProfile,
  type OpProfile,
  OpProfiler,
  type ProfileMode,
  profileRequested,
} from "../../packages/core/src/engines/cuda/profile.ts";
import { enginePlan } from "../../packages/core/src/engines/native/testing.ts";
import type { ModelConfig } from "../../packages/core/src/model/config.ts";
import { tinyConfig } from "../../packages/core/src/model/tiny.ts";
import { mulberry32 } from "../../packages/core/src/util/mulberry32.ts";

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? dflt) : dflt;
};
const backend = args.includes("--host") ? "host" : "device";

async function golden(dir: string): Promise<number> {
  let failed = 0;
  for (const name of ["full", "lora", "qlora", "prefix"]) {
    const want = readGolden(dir, name);
    try {
      const engine = await createCudaEngine(goldenPlan(want.method), backend);
      const got = await computeGolden(name, want.method, engine);
      const checks = compareGolden(got, want);
      const bad = checks.filter((c) => !c.ok);
      const worst = checks.reduce((w, c) => Math.max(w, c.error / Math.max(c.tolerance, 1e-12)), 0);
      console.log(
        `${bad.length ? "FAIL" : "PASS"}  golden ${name.padEnd(6)} ${checks.length} checks, loss ${got.lossSum.toFixed(4)} (want ${want.lossSum.toFixed(4)}), worst error/tolerance ${worst.toFixed(3)}`,
      );
      for (const c of bad.slice(0, 8))
        console.log(`      ${c.what}: error ${c.error.toExponential(2)} > ${c.tolerance}`);
      if (bad.length) failed++;
    } catch (e) {
      console.log(`FAIL  golden ${name}: ${process.env.DEBUG ? (e as Error).stack : (e as Error).message}`);
      failed++;
    }
  }
  return failed ? 1 : 0;
}

/** Qwen2.5-0.5B's shape (random weights, stored bf16); CUDA_BENCH_SHAPE=tiny: a small one (rehearsals). */
function qwen05b(): ModelConfig {
  if (process.env.CUDA_BENCH_SHAPE === "tiny")
    return tinyConfig("qwen2", {
      vocabSize: 512,
      hiddenSize: 64,
      intermediateSize: 128,
      torchDtype: "bfloat16",
    });
  return tinyConfig("qwen2", {
    vocabSize: 151936,
    hiddenSize: 896,
    intermediateSize: 4864,
    numLayers: 24,
    numHeads: 14,
    numKvHeads: 2,
    headDim: 64,
    maxPositionEmbeddings: 32768,
    ropeTheta: 1e6,
    tieWordEmbeddings: true,
    attentionBias: true,
    torchDtype: "bfloat16",
  });
}

const METHODS: Record<string, unknown> = {
  lora: { kind: "lora", rank: 16, alpha: 32, dropout: 0, targets: "all-linear" },
  full: { kind: "full" },
  qlora: { kind: "qlora", rank: 16, alpha: 32, dropout: 0, targets: "all-linear" },
};

/** Seconds the whole bench may take (rows past it are skipped, a slow row times its warm-up step only). */
const BUDGET_S = Number(process.env.CUDA_BENCH_BUDGET_S ?? 170);
const started = performance.now();
const elapsed = () => (performance.now() - started) / 1000;

/** The profile as the --out JSON keeps it (numbers to 0.001). */
const profileJson = (p: OpProfile): unknown =>
  JSON.parse(JSON.stringify(p, (_k, v) => (typeof v === "number" ? Math.round(v * 1000) / 1000 : v)));

async function benchRow(row: string, steps: number, profile: boolean): Promise<Record<string, unknown>> {
  const cfg = qwen05b();
  const plan = enginePlan(cfg, METHODS[row]);
  const t0 = performance.now();
  const engine = await createCudaEngine(plan, backend);
  await engine.load({ plan, model: { config: cfg, seed: 1 } });
  const loadS = (performance.now() - t0) / 1000;
  const tiny = process.env.CUDA_BENCH_SHAPE === "tiny";
  const B = tiny ? 2 : 8;
  const S = tiny ? 32 : 1024;
  const r = mulberry32(1);
  const ids = Int32Array.from({ length: B * S }, () => Math.floor(r() * cfg.vocabSize));
  const batch = { batch: B, seqLen: S, ids, labels: ids };
  const step = async (prof?: OpProfiler) => {
    const l = await engine.forwardBackward(batch, { seed: 0 });
    prof?.phase("forwardBackward");
    await engine.applyStep({ learningRate: 1e-4, clipNorm: 1, trainedTokens: l.trainedTokens });
    prof?.phase("applyStep");
    return l.lossSum / l.trainedTokens;
  };
  const t1 = performance.now();
  let loss = await step(); // warm-up: cuBLASLt heuristics, the allocator's cache filled
  let seconds = (performance.now() - t1) / 1000;
  // A step too slow for the budget: its warm-up is the figure (marked), rather than no figure.
  const timed = elapsed() + seconds * steps < BUDGET_S ? steps : 0;
  if (timed) {
    const t2 = performance.now();
    for (let i = 0; i < timed; i++) loss = await step();
    seconds = (performance.now() - t2) / 1000;
  }
  const m = engine.memory();
  // One step with a sync after each op, then (a device with timing events) one with events around each.
  const profiles: Record<string, unknown> = {};
  const modes: ProfileMode[] = !profile ? [] : engine.ops.gpuTimer() ? ["sync", "events"] : ["sync"];
  for (const mode of modes) {
    // A broken profile must not cost the row its figures.
    const key = mode === "sync" ? "profile" : "profile_events";
    let prof: OpProfiler | undefined;
    try {
      prof = new OpProfiler(engine.ops, mode);
      prof.start();
      await step(prof);
      const p = prof.stop();
      console.log(`${row}: ${formatProfile(p)}`);
      profiles[key] = profileJson(p);
    } catch (e) {
      try {
        prof?.stop(); // the ops' own methods back
      } catch {}
      profiles[`${key}_error`] = String((e as Error).message ?? e).slice(0, 400);
      console.log(`${row}: the profiled step (${mode}) failed: ${profiles[`${key}_error`]}`);
    }
  }
  engine.dispose();
  return {
    row,
    engine: "sftkit cuda",
    tokens_per_s: Math.round((B * S * Math.max(timed, 1)) / seconds),
    step_ms: Math.round((1000 * seconds) / Math.max(timed, 1)),
    timed_steps: timed || "warm-up only (over the time budget)",
    peak_gib: +((m.peakBytes ?? m.bytes) / 2 ** 30).toFixed(2),
    load_s: +loadS.toFixed(1),
    loss: +loss.toFixed(4),
    memory: m.detail,
    ...profiles,
  };
}

async function bench(): Promise<number> {
  const rows = opt("rows", "lora,full,qlora").split(",");
  const steps = Number(opt("steps", "3"));
  const profileRows = profileRequested() ? opt("profile-rows", rows.join(",")).split(",") : [];
  const out: Record<string, unknown>[] = [];
  for (const row of rows) {
    let r: Record<string, unknown>;
    try {
      if (elapsed() > BUDGET_S) throw new Error(`skipped: the bench's ${BUDGET_S} s budget is spent`);
      r = await benchRow(row, steps, profileRows.includes(row));
    } catch (e) {
      r = { row, engine: "sftkit cuda", error: String((e as Error).message ?? e).slice(0, 400) };
    }
    out.push(r);
    const { profile: _, profile_events: __, ...line } = r;
    console.log(JSON.stringify(line));
  }
  const file = opt("out", "");
  if (file) writeFileSync(file, `${JSON.stringify({ rows: out }, null, 2)}\n`);
  return out.some((r) => "error" in r) ? 1 : 0;
}

/** What `sft doctor` lists and what `auto` picks for a plain Qwen2 LoRA plan on this machine. */
async function choice(): Promise<number> {
  const { decideEngine, listEngines } = await import("../../packages/core/src/engines/index.ts");
  for (const e of listEngines())
    console.log(`  ${e.name.padEnd(6)} ${e.available ? "available  " : "unavailable"} ${e.reason}`);
  const d = decideEngine("auto", process.env, {
    backend: "auto",
    gpu: false,
    family: "qwen2",
    convertsWeights: false,
    modelNeeds: [],
    features: [],
    method: { kind: "lora", rank: 16, alpha: 32, dropout: 0, targets: "all-linear" } as never,
  });
  console.log(`auto chose ${d.chosen}: ${d.reason}`);
  return d.chosen === "cuda" ? 0 : 1;
}

const mode = args[0];
const code =
  mode === "golden"
    ? await golden(args[1] ?? "")
    : mode === "bench"
      ? await bench()
      : mode === "choice"
        ? await choice()
        : 2;
if (code === 2 && !["golden", "bench", "choice"].includes(mode ?? ""))
  console.log("usage: cuda-step.mjs golden <dir> | bench | choice");
process.exit(code);
