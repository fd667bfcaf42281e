// Engine benchmark (not a test): training tokens/s and peak RSS of an engine (default `native`)
// on models of the shapes people fine-tune, each next to PyTorch on the same shape in the same
// invocation. Every run is its own process (peak RSS is per process); the sides alternate.
//
// Ours loads a random checkpoint written to disk first in HF format (bf16 shards, cached under
// bench/results/models), so loading straight into the storage dtype is exercised; the plan comes
// from compiling a recipe on that folder, so the engine runs what `sft run` would. PyTorch keeps
// its frozen weights in bf16 and casts them per use (LoRA rows) or holds NF4 codes and dequantizes
// per use (QLoRA rows), embedding and head frozen in bf16: the plain-PyTorch way on a CPU.
// Loss: the first quarter of every row is masked (-100); step = forward + backward + update.
//
// Rows (BENCH_ROWS=name,... picks some): qwen0.5b-lora (LoRA r16 all-linear, 4 x 512),
// llama1b-qlora (4 x 512), qwen1.5b-qlora (1 x 512), llama3b-qlora (1 x 512), the 7.1M reference
// model full and LoRA at 8 x 256, and its full step at 1 x 512 / 2048 / 8192 (memory against T).
// Env: BENCH_ENGINE (native), BENCH_ROUNDS (1), BENCH_STEPS (timed steps, 2), BENCH_PYTHON, BENCH_TORCH=0.
// Writes bench/results/engines.json (gitignored; the record lives in docs/performance.md).
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { resourceUsage } from "node:process";
import { fileURLToPath } from "node:url";
import { compileRecipe } from "../packages/core/src/compile/compile.ts";
import { engineDefinition } from "../packages/core/src/engines/index.ts";
import type { ModelConfig } from "../packages/core/src/model/config.ts";
import type { StDtype } from "../packages/core/src/model/dtype.ts";
import { referenceConfig } from "../packages/core/src/model/tiny.ts";
import type { RecipeInput } from "../packages/core/src/recipe/schema/recipe.ts";
import { ensureCheckpoint, LLAMA_1B, LLAMA_3B, QWEN_05B, QWEN_15B } from "./models.ts";

type Method = "full" | "lora" | "qlora";

interface Row {
  name: string;
  model: ModelConfig;
  method: Method;
  batch: number;
  seq: number;
  /** The checkpoint's dtype on disk (the frozen base keeps it). */
  dtype: StDtype;
  rank: number;
  alpha: number;
  targets: string[] | "all-linear";
}

const ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

const REF = referenceConfig({ maxPositionEmbeddings: 8192 });

const adapter = { rank: 16, alpha: 32, targets: "all-linear" as const };
const refLora = { rank: 8, alpha: 16, targets: ["q_proj", "v_proj"] };
const ROWS: Row[] = [
  { name: "qwen0.5b-lora", model: QWEN_05B, method: "lora", batch: 4, seq: 512, dtype: "BF16", ...adapter },
  { name: "llama1b-qlora", model: LLAMA_1B, method: "qlora", batch: 4, seq: 512, dtype: "BF16", ...adapter },
  { name: "qwen1.5b-qlora", model: QWEN_15B, method: "qlora", batch: 1, seq: 512, dtype: "BF16", ...adapter },
  { name: "llama3b-qlora", model: LLAMA_3B, method: "qlora", batch: 1, seq: 512, dtype: "BF16", ...adapter },
  { name: "ref-full", model: REF, method: "full", batch: 8, seq: 256, dtype: "F32", ...refLora },
  { name: "ref-lora", model: REF, method: "lora", batch: 8, seq: 256, dtype: "F32", ...refLora },
  ...[512, 2048, 8192].map(
    (seq): Row => ({
      name: `ref-full-T${seq}`,
      model: REF,
      method: "full",
      batch: 1,
      seq,
      dtype: "F32",
      ...refLora,
    }),
  ),
];

interface RunResult {
  tokensPerSecond: number;
  msPerStep: number;
  loss: number;
  peakRssMiB: number;
  /** Ours: the plan's estimated peak, to set beside the measured RSS. */
  planPeakMiB?: number;
  loadSeconds?: number;
  error?: string;
}

const here = import.meta.dirname;
const repo = join(here, "..");

function maskedBatch(batch: number, seq: number, vocab: number) {
  let s = 12345;
  const labels = new Int32Array(batch * seq);
  for (let i = 0; i < labels.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    labels[i] = i % seq < seq / 4 ? -100 : 3 + (s % (vocab - 3));
  }
  const ids = Int32Array.from(labels, (v, i) => (v < 0 ? 3 + (i % 97) : v));
  return { batch, seqLen: seq, ids, labels };
}

/** Child process: one row on our side, through the Engine interface, from a compiled plan. */
async function ours(job: { row: Row; dir: string; engine: string; steps: number }): Promise<RunResult> {
  const { row } = job;
  const recipe = {
    name: `bench-${row.name}`,
    model: { path: job.dir },
    template: {
      jinja:
        "{{ bos_token }}{% for m in messages %}{% if m.role == 'user' %}Q: {{ m.content }}\n" +
        "{% elif m.role == 'assistant' %}A: {{ m.content }} {{ eos_token }}{% endif %}{% endfor %}",
    },
    data: {
      sources: { chat: { path: join(repo, "examples/quickstart/data/chat.jsonl"), format: "messages" } },
    },
    method:
      row.method === "full"
        ? { kind: "full" }
        : { kind: row.method, rank: row.rank, alpha: row.alpha, dropout: 0, targets: row.targets },
    train: {
      engine: job.engine,
      steps: 1 + job.steps,
      learningRate: 1e-4,
      maxLength: row.seq,
      tokensPerMicroBatch: row.batch * row.seq,
    },
    output: { dir: mkdtempSync(join(tmpdir(), "sft-bench-")) },
  } as RecipeInput;
  const compiled = await compileRecipe(recipe, { write: false });
  const plan = compiled.plan;
  if (!plan)
    throw new Error(
      compiled.diagnostics
        .filter((d) => d.severity === "error")
        .map((d) => `${d.code}: ${d.message}`)
        .join("; "),
    );
  if (plan.engine?.chosen !== job.engine)
    throw new Error(`engine ${job.engine} not chosen: ${plan.engine?.reason}`);
  const engine = await engineDefinition(job.engine)!.create(plan);
  const t0 = performance.now();
  await engine.load({ plan, model: { dir: job.dir } });
  const loadSeconds = (performance.now() - t0) / 1000;
  const mb = maskedBatch(row.batch, row.seq, row.model.vocabSize);
  const step = async () => {
    const r = await engine.forwardBackward(mb, { seed: 1 });
    await engine.applyStep({ learningRate: 1e-4, clipNorm: 1, trainedTokens: r.trainedTokens });
    return r.lossSum / r.trainedTokens;
  };
  await step();
  const t1 = performance.now();
  let loss = 0;
  for (let i = 0; i < job.steps; i++) loss = await step();
  const sec = (performance.now() - t1) / 1000 / job.steps;
  engine.dispose();
  rmSync(plan.output.dir, { recursive: true, force: true });
  return {
    tokensPerSecond: (row.batch * row.seq) / sec,
    msPerStep: sec * 1000,
    loss,
    peakRssMiB: resourceUsage().maxRSS / 1024,
    planPeakMiB: plan.memory.peak / 1024 ** 2,
    loadSeconds,
  };
}

const PY_CANDIDATES = process.env.BENCH_PYTHON ? [process.env.BENCH_PYTHON] : ["python3", "/usr/bin/python3"];

/** The python with PyTorch, or why there is none (each candidate's last line of error). */
function findTorch(): { py: string } | { missing: string } {
  const why: string[] = [];
  for (const py of PY_CANDIDATES) {
    const r = spawnSync(py, ["-c", "import torch"], { encoding: "utf8" });
    if (r.status === 0) return { py };
    const last = r.error ? r.error.message : (r.stderr.trim().split("\n").pop() ?? `exit ${r.status}`);
    why.push(`${py}: ${last}`);
  }
  return { missing: why.join("; ") };
}

/** Least-squares slope of y over x, and the largest relative distance of a point from the line. */
function linearFit(xs: number[], ys: number[]): { slope: number; intercept: number; worst: number } {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  const slope = sxx ? sxy / sxx : 0;
  const intercept = my - slope * mx;
  const worst = Math.max(...ys.map((y, i) => Math.abs(y - (intercept + slope * xs[i]!)) / y));
  return { slope, intercept, worst };
}

function childResult(r: { status: number | null; stdout: string; stderr: string }): RunResult {
  const line = r.stdout.trim().split("\n").pop() ?? "";
  if (r.status !== 0 || !line.startsWith("{"))
    return {
      tokensPerSecond: 0,
      msPerStep: 0,
      loss: 0,
      peakRssMiB: 0,
      error: `${r.stderr.trim().split("\n").slice(-3).join(" | ")} (exit ${r.status})`,
    };
  return JSON.parse(line) as RunResult;
}

function runTorch(py: string, row: Row, steps: number, threads: number): RunResult {
  const frozen = row.method === "full" ? "float32" : "bfloat16";
  const job = {
    model: row.model,
    method: row.method,
    batch: row.batch,
    seq: row.seq,
    steps,
    warmup: 1,
    loraRank: row.rank,
    loraAlpha: row.alpha,
    loraTargets: row.targets === "all-linear" ? ALL : row.targets,
    peak: false,
    threads,
    frozenDtype: row.dtype === "F32" ? "float32" : frozen,
    tableDtype: row.dtype === "F32" || row.method === "full" ? "float32" : "bfloat16",
  };
  const r = spawnSync(py, [join(here, "torch_reference.py"), JSON.stringify(job)], {
    encoding: "utf8",
    env: { ...process.env, OMP_WAIT_POLICY: "PASSIVE", OMP_NUM_THREADS: String(threads) },
    maxBuffer: 1 << 24,
  });
  return childResult(r);
}

function runOurs(row: Row, dir: string, engine: string, steps: number, threads: number): RunResult {
  const r = spawnSync(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url)], {
    encoding: "utf8",
    env: {
      ...process.env,
      ENGINES_BENCH_CHILD: JSON.stringify({ row, dir, engine, steps }),
      SFTKIT_THREADS: String(threads),
    },
    maxBuffer: 1 << 24,
  });
  return childResult(r);
}

const best = (xs: RunResult[]) =>
  xs.filter((x) => !x.error).sort((a, b) => b.tokensPerSecond - a.tokensPerSecond)[0];

const fmt = (x: number | null | undefined, d = 0) => (x === null || x === undefined ? "-" : x.toFixed(d));

export default async function enginesBench(): Promise<void> {
  const engine = process.env.BENCH_ENGINE ?? "native";
  const wanted = process.env.BENCH_ROWS?.split(",");
  const rows = ROWS.filter((r) => !wanted || wanted.includes(r.name));
  const rounds = Number(process.env.BENCH_ROUNDS ?? 1);
  const steps = Number(process.env.BENCH_STEPS ?? 2);
  const threads = Number(process.env.SFTKIT_THREADS ?? availableParallelism());
  const off = process.env.BENCH_TORCH === "0";
  const found = off ? { missing: "BENCH_TORCH=0" } : findTorch();
  const py = "py" in found ? found.py : null;
  // Without PyTorch the rows are ours alone: the torch columns say n/a, and why, rather than fail.
  const torchMissing =
    "missing" in found
      ? `PyTorch not run (${found.missing})${off ? "" : "; install Debian's python3-torch (and libopenblas0-openmp) for the reference side"}`
      : null;
  if (torchMissing) console.log(`torch side skipped: ${torchMissing}`);
  console.log(
    `engines bench: engine ${engine}, ${availableParallelism()} CPUs, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB, ${threads} threads on both sides`,
  );
  const out: Record<string, unknown>[] = [];
  const table = [
    [
      "row",
      "batch x seq",
      "ours tok/s",
      "torch tok/s",
      "ratio",
      "ours RSS MiB",
      "plan peak MiB",
      "torch RSS MiB",
      "load s",
    ],
  ];
  for (const row of rows) {
    const dir = await ensureCheckpoint(row);
    const o: RunResult[] = [];
    const t: RunResult[] = [];
    for (let r = 0; r < rounds; r++) {
      if (py) t.push(runTorch(py, row, steps, threads));
      o.push(runOurs(row, dir, engine, steps, threads));
    }
    const bo = best(o);
    const bt = best(t);
    const errors = [...o, ...t].filter((x) => x.error).map((x) => x.error);
    out.push({ ...row, model: undefined, shape: row.model, ours: o, torch: t });
    const na = torchMissing ? "n/a" : undefined;
    table.push([
      row.name,
      `${row.batch} x ${row.seq}`,
      fmt(bo?.tokensPerSecond),
      na ?? fmt(bt?.tokensPerSecond),
      na ?? (bo && bt ? (bo.tokensPerSecond / bt.tokensPerSecond).toFixed(2) : "-"),
      fmt(bo?.peakRssMiB),
      fmt(bo?.planPeakMiB),
      na ?? fmt(bt?.peakRssMiB),
      fmt(bo?.loadSeconds, 1),
    ]);
    console.log(`${table[table.length - 1]!.join("  ")}${errors.length ? `  [${errors.join("; ")}]` : ""}`);
  }
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  console.log("");
  for (const r of table) console.log(r.map((v, i) => v.padStart(widths[i]!)).join("  "));
  if (torchMissing)
    console.log(
      `n/a: ${torchMissing}. The issue's comparisons (tokens/s ratio, RSS at or below PyTorch's) need that column.`,
    );
  // Peak RSS against sequence length (the reference model's full step at 1 x T).
  const byT = out.filter((r) => /^ref-full-T\d+$/.test(String(r.name)));
  const points = byT
    .map((r) => ({ T: Number(r.seq), rss: best(r.ours as RunResult[])?.peakRssMiB }))
    .filter((p): p is { T: number; rss: number } => p.rss !== undefined);
  if (points.length >= 2) {
    const fit = linearFit(
      points.map((p) => p.T),
      points.map((p) => p.rss),
    );
    console.log(
      `peak RSS against T (${points.map((p) => `${p.T}: ${p.rss.toFixed(0)} MiB`).join(", ")}): ` +
        `slope ${fit.slope.toFixed(3)} MiB/token (${(fit.slope * 1024).toFixed(0)} MiB per 1k tokens), ` +
        `intercept ${fit.intercept.toFixed(0)} MiB, worst point ${(fit.worst * 100).toFixed(1)}% off the line`,
    );
  }
  const dir = join(here, "results");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "engines.json");
  writeFileSync(
    file,
    `${JSON.stringify({ date: new Date().toISOString(), engine, threads, rows: out }, null, 2)}\n`,
  );
  console.log(`written ${file}`);
}

const child = process.env.ENGINES_BENCH_CHILD;
if (child) {
  delete process.env.ENGINES_BENCH_CHILD;
  try {
    console.log(JSON.stringify(await ours(JSON.parse(child))));
    process.exit(0);
  } catch (e) {
    console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    process.exit(1);
  }
}
