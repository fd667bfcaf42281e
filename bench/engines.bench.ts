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
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { resourceUsage } from "node:process";
import { fileURLToPath } from "node:url";
import { compileRecipe } from "../packages/core/src/compile/compile.ts";
import { tensorInventory } from "../packages/core/src/compile/params.ts";
import { engineDefinition } from "../packages/core/src/engines/index.ts";
import { writeCheckpoint } from "../packages/core/src/model/checkpoint.ts";
import type { ModelConfig } from "../packages/core/src/model/config.ts";
import { countParameters, tensorKinds, toHfConfig } from "../packages/core/src/model/config.ts";
import type { StDtype } from "../packages/core/src/model/dtype.ts";
import { referenceConfig } from "../packages/core/src/model/tiny.ts";
import type { RecipeInput } from "../packages/core/src/recipe/schema/recipe.ts";

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

function shape(over: Partial<ModelConfig> & Pick<ModelConfig, "architecture">): ModelConfig {
  return referenceConfig({ maxPositionEmbeddings: 8192, ropeTheta: 1e6, rmsNormEps: 1e-6, ...over });
}

const QWEN_05B = shape({
  architecture: "qwen2",
  vocabSize: 151936,
  hiddenSize: 896,
  intermediateSize: 4864,
  numLayers: 24,
  numHeads: 14,
  numKvHeads: 2,
  headDim: 64,
  tieWordEmbeddings: true,
  attentionBias: true,
});
const QWEN_15B = shape({
  architecture: "qwen2",
  vocabSize: 151936,
  hiddenSize: 1536,
  intermediateSize: 8960,
  numLayers: 28,
  numHeads: 12,
  numKvHeads: 2,
  headDim: 128,
  tieWordEmbeddings: true,
  attentionBias: true,
});
const LLAMA_1B = shape({
  architecture: "llama",
  vocabSize: 128256,
  hiddenSize: 2048,
  intermediateSize: 8192,
  numLayers: 16,
  numHeads: 32,
  numKvHeads: 8,
  headDim: 64,
  tieWordEmbeddings: true,
});
const LLAMA_3B = shape({
  architecture: "llama",
  vocabSize: 128256,
  hiddenSize: 3072,
  intermediateSize: 8192,
  numLayers: 28,
  numHeads: 24,
  numKvHeads: 8,
  headDim: 128,
  tieWordEmbeddings: true,
});
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
const stories = join(repo, "examples/models/stories260K");

/** A deterministic random HF checkpoint of `cfg` in `dtype`, written once and reused. */
async function ensureCheckpoint(row: Row): Promise<string> {
  const p = countParameters(row.model).total;
  const dir = join(here, "results/models", `${row.model.architecture}-${(p / 1e6).toFixed(0)}M-${row.dtype}`);
  if (existsSync(join(dir, "config.json"))) return dir;
  const t0 = performance.now();
  let seed = 1;
  const tensors = tensorInventory(row.model, row.model.vocabSize).map((t) => ({
    name: t.name,
    shape: t.shape,
    data: () => {
      const n = t.shape.reduce((a, b) => a * b, 1);
      const out = new Float32Array(n);
      if (tensorKinds[t.kind].init === "ones") return out.fill(1);
      let s = seed++ * 2654435761;
      // Uniform with the std of N(0, 0.02): values only need a realistic scale here.
      for (let i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >>> 17;
        s ^= s << 5;
        out[i] = ((s >>> 0) / 4294967296 - 0.5) * 0.0693;
      }
      return out;
    },
  }));
  await writeCheckpoint(dir, tensors, { dtype: row.dtype, maxShardBytes: 2 * 1024 ** 3 });
  const torchDtype = row.dtype === "BF16" ? "bfloat16" : row.dtype === "F16" ? "float16" : "float32";
  writeFileSync(
    join(dir, "config.json"),
    `${JSON.stringify(toHfConfig({ ...row.model, torchDtype }), null, 2)}\n`,
  );
  for (const f of ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"])
    copyFileSync(join(stories, f), join(dir, f));
  console.log(
    `wrote ${dir} (${(p / 1e9).toFixed(2)}B parameters) in ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  );
  return dir;
}

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

function findTorch(): string | null {
  for (const py of PY_CANDIDATES)
    if (spawnSync(py, ["-c", "import torch"], { encoding: "utf8" }).status === 0) return py;
  return null;
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

const fmt = (x: number | null | undefined, d = 0) => (x === null || x === undefined ? "-" : x.toFixed(d));

export default async function enginesBench(): Promise<void> {
  const engine = process.env.BENCH_ENGINE ?? "native";
  const wanted = process.env.BENCH_ROWS?.split(",");
  const rows = ROWS.filter((r) => !wanted || wanted.includes(r.name));
  const rounds = Number(process.env.BENCH_ROUNDS ?? 1);
  const steps = Number(process.env.BENCH_STEPS ?? 2);
  const threads = Number(process.env.SFTKIT_THREADS ?? availableParallelism());
  const py = process.env.BENCH_TORCH === "0" ? null : findTorch();
  if (!py)
    console.log("torch side skipped: PyTorch not found (install Debian's python3-torch) or BENCH_TORCH=0");
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
    const best = (xs: RunResult[]) =>
      xs.filter((x) => !x.error).sort((a, b) => b.tokensPerSecond - a.tokensPerSecond)[0];
    const bo = best(o);
    const bt = best(t);
    const errors = [...o, ...t].filter((x) => x.error).map((x) => x.error);
    out.push({ ...row, model: undefined, shape: row.model, ours: o, torch: t });
    table.push([
      row.name,
      `${row.batch} x ${row.seq}`,
      fmt(bo?.tokensPerSecond),
      fmt(bt?.tokensPerSecond),
      bo && bt ? (bo.tokensPerSecond / bt.tokensPerSecond).toFixed(2) : "-",
      fmt(bo?.peakRssMiB),
      fmt(bo?.planPeakMiB),
      fmt(bt?.peakRssMiB),
      fmt(bo?.loadSeconds, 1),
    ]);
    console.log(`${table[table.length - 1]!.join("  ")}${errors.length ? `  [${errors.join("; ")}]` : ""}`);
  }
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  console.log("");
  for (const r of table) console.log(r.map((v, i) => v.padStart(widths[i]!)).join("  "));
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
