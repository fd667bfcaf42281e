// Throughput benchmark (not a test): training tokens/s and peak RSS of sftkit next to PyTorch, on
// the same model configuration, sequence length, batch and masked loss, per method (full, LoRA,
// QLoRA). Every run is its own process (peak RSS is per process) and the two sides alternate
// (torch, ours, torch, ours, ...) so machine drift cancels; the headline is ours / torch.
//
// Models: the 7.1M reference Llama of ARCHITECTURE.md (vocab 8192, d 256, 4 layers, 8/8 heads,
// ffn 688, untied head) at batch 8 x seq 256, and a SmolLM2-135M-shaped random model (vocab 49152,
// d 576, 30 layers, 9/3 heads, ffn 1536, tied head; 134.5M parameters) at batch 1 x seq 256 (a
// batch of 8 does not fit the full step in wasm's 4 GiB and takes minutes per step on 2 cores).
// Loss: the first quarter of every row is masked (-100), the rest trained; step = forward +
// backward + plain SGD update of the trainable tensors. LoRA: rank 8, alpha 16, dropout 0 on
// q_proj and v_proj; QLoRA: the same over an NF4 base (buildMethod; torch dequantizes in Python).
//
// Ours runs twice per cell where the optional native tier (@sftkit/native: OpenBLAS matmuls and
// fused kernels in place on the wasm heap) is built: pure wasm (SFTKIT_NATIVE=0) and with it.
//
// Env: BENCH_NATIVE=0 (skip that column), BENCH_MODELS=ref,smollm2 (which models), BENCH_METHODS=full,lora,qlora, BENCH_ROUNDS
// (alternations per cell, default 2 on ref and 1 on smollm2), BENCH_STEPS (timed steps, default 3
// on ref, 1 on smollm2), SMOLLM2_LAYERS (fewer layers for a quicker run), BENCH_PYTHON (python3).
// Writes bench/results/throughput.json (gitignored: a record lives in docs/performance.md).
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { resourceUsage } from "node:process";
import { fileURLToPath } from "node:url";
import type { Plan } from "../packages/core/src/compile/plan-schema.ts";
import { buildMethod } from "../packages/core/src/methods/index.ts";
import { initBackend } from "../packages/core/src/model/backend.ts";
import type { ModelConfig } from "../packages/core/src/model/config.ts";
import { countParameters } from "../packages/core/src/model/config.ts";
import { randomModel } from "../packages/core/src/model/llama.ts";
import { nativeAvailability, nativeStatus } from "../packages/core/src/model/native/load.ts";
import { tf } from "../packages/core/src/model/tf.ts";
import { referenceConfig, smollm2Config } from "../packages/core/src/model/tiny.ts";
import { lossAndGrads, sgdUpdate } from "../packages/core/src/model/train-step.ts";

type MethodName = "full" | "lora" | "qlora";

interface Job {
  modelName: string;
  model: ModelConfig;
  method: MethodName;
  batch: number;
  seq: number;
  steps: number;
  warmup: number;
  loraRank: number;
  loraAlpha: number;
  loraTargets: string[];
  peak: boolean;
  /** Threads on both sides (torch.set_num_threads; SFTKIT_THREADS for wasm). */
  threads: number;
  /** Ours with the native tier (@sftkit/native); pure wasm otherwise. */
  native?: boolean;
}

interface RunResult {
  tokensPerSecond: number;
  msPerStep: number;
  loss: number;
  peakRssMiB: number;
  matmulPeakGflops?: number;
  trainableParameters?: number;
  error?: string;
  skipped?: string;
}

const REF = referenceConfig();

const SMOLLM2 = smollm2Config({ numLayers: Number(process.env.SMOLLM2_LAYERS ?? 30) });

/** Matmul FLOPs of one training step: forward 2·(linears + head)·T + attention; backward 2x (full) or 1x (frozen base: input gradients only). */
export function stepFlops(
  cfg: ModelConfig,
  method: MethodName,
  batch: number,
  seq: number,
  rank = 8,
  targets = 2,
): number {
  const d = cfg.hiddenSize;
  const q = cfg.numHeads * cfg.headDim;
  const kv = cfg.numKvHeads * cfg.headDim;
  const linears = d * q + 2 * d * kv + q * d + 3 * d * cfg.intermediateSize;
  const T = batch * seq;
  const attention = 4 * seq * q; // QK^T and PV per token, the full square as both sides compute it
  const fwd = T * (cfg.numLayers * (2 * linears + attention) + 2 * d * cfg.vocabSize);
  if (method === "full") return 3 * fwd;
  const adapter = T * cfg.numLayers * targets * 2 * rank * 2 * d; // x·A, ·B and their gradients, roughly
  return 2 * fwd + 3 * adapter;
}

function maskedLabels(batch: number, seq: number, vocab: number): Int32Array {
  let s = 12345;
  const out = new Int32Array(batch * seq);
  for (let i = 0; i < out.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    out[i] = i % seq < seq / 4 ? -100 : 3 + (s % (vocab - 3));
  }
  return out;
}

function wasmMatmulPeak(): number {
  let best = 0;
  for (const [m, k, n] of [
    [1024, 1024, 1024],
    [2048, 1024, 2048],
  ] as const) {
    const a = tf.randomNormal([m, k]);
    const b = tf.randomNormal([k, n]);
    tf.matMul(a, b).dataSync();
    const reps = 3;
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) {
      const c = tf.matMul(a, b);
      c.dataSync();
      c.dispose();
    }
    best = Math.max(best, (2 * m * k * n * reps) / ((performance.now() - t0) / 1000) / 1e9);
    tf.dispose([a, b]);
  }
  return best;
}

/** A plan with just what buildMethod reads (method, vocabulary, memory, seed). */
function benchPlan(job: Job): Plan {
  const method =
    job.method === "full"
      ? { kind: "full" }
      : {
          kind: job.method,
          rank: job.loraRank,
          alpha: job.loraAlpha,
          dropout: 0,
          targets: job.loraTargets,
          trainNewTokens: false,
          ...(job.method === "qlora" ? { quantization: { blockSize: 64, doubleQuant: true } } : {}),
        };
  const V = job.model.vocabSize;
  return {
    method,
    seed: 1,
    tokenizer: { added: [] },
    model: { vocab: { model: V, tokenizer: V, total: V } },
    memory: { gradientCheckpointing: false },
  } as unknown as Plan;
}

/** Child process: one configuration on our side. */
async function ours(job: Job): Promise<RunResult & { backend: string; threads: number }> {
  const info = await initBackend();
  if (job.native && !nativeStatus().active) throw new Error(`native tier: ${nativeStatus().reason}`);
  const matmulPeakGflops = job.peak ? wasmMatmulPeak() : undefined;
  const model = randomModel({ ...job.model }, { seed: 1 });
  const runtime = buildMethod(model, benchPlan(job), 1);
  const vars = [...runtime.trainable.values()];
  const labels = maskedLabels(job.batch, job.seq, job.model.vocabSize);
  const ids = Int32Array.from(labels, (v, i) => (v < 0 ? 3 + (i % 97) : v));
  const input = { batch: { batch: job.batch, seqLen: job.seq, ids }, labels };
  const step = async () => {
    const fw = runtime.forward(true, 1);
    const r = await lossAndGrads(model, input, vars, { hooks: fw.hooks, recompute: fw.recompute });
    sgdUpdate(vars, r.grads, 1e-3 / r.tokens);
    tf.dispose(r.grads);
    return r.loss / r.tokens;
  };
  for (let i = 0; i < job.warmup; i++) await step();
  const t0 = performance.now();
  let loss = 0;
  for (let i = 0; i < job.steps; i++) loss = await step();
  const sec = (performance.now() - t0) / 1000 / job.steps;
  const trainableParameters = vars.reduce((a, v) => a + v.size, 0);
  runtime.dispose();
  model.dispose();
  return {
    backend: info.backend,
    threads: info.threads,
    tokensPerSecond: (job.batch * job.seq) / sec,
    msPerStep: sec * 1000,
    loss,
    peakRssMiB: resourceUsage().maxRSS / 1024,
    matmulPeakGflops,
    trainableParameters,
  };
}

const here = import.meta.dirname;
// Debian's python3-torch lives in the system interpreter, which a pyenv/venv python3 may shadow.
const PY_CANDIDATES = process.env.BENCH_PYTHON ? [process.env.BENCH_PYTHON] : ["python3", "/usr/bin/python3"];
let PY = PY_CANDIDATES[0]!;

function torchAvailable(): string | null {
  for (const py of PY_CANDIDATES) {
    const r = spawnSync(py, ["-c", "import torch; print(torch.__version__)"], { encoding: "utf8" });
    if (r.status === 0) {
      PY = py;
      return null;
    }
  }
  return `PyTorch not found (${PY_CANDIDATES.join(", ")}: "import torch" failed): install Debian's python3-torch and libopenblas0-openmp to get the reference side`;
}

/** A child's last stdout line as its result, or its error (the last lines of stderr). */
function childResult(r: { status: number | null; stdout: string; stderr: string }): RunResult {
  const line = r.stdout.trim().split("\n").pop() ?? "";
  if (r.status !== 0 || !line.startsWith("{"))
    return {
      tokensPerSecond: 0,
      msPerStep: 0,
      loss: 0,
      peakRssMiB: 0,
      error: r.stderr.trim().split("\n").slice(-3).join(" | "),
    };
  return JSON.parse(line) as RunResult;
}

function runTorch(job: Job): RunResult {
  const r = spawnSync(PY, [join(here, "torch_reference.py"), JSON.stringify(job)], {
    encoding: "utf8",
    env: { ...process.env, OMP_WAIT_POLICY: "PASSIVE", OMP_NUM_THREADS: String(job.threads) },
    maxBuffer: 1 << 24,
  });
  return childResult(r);
}

function runOurs(job: Job): RunResult {
  const r = spawnSync(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url)], {
    encoding: "utf8",
    env: {
      ...process.env,
      THROUGHPUT_CHILD: JSON.stringify(job),
      SFTKIT_THREADS: String(job.threads),
      SFTKIT_NATIVE: job.native ? "1" : "0",
    },
    maxBuffer: 1 << 24,
  });
  return childResult(r);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

interface Cell {
  model: string;
  method: MethodName;
  batch: number;
  seq: number;
  ours: RunResult[];
  torch: RunResult[];
  native: RunResult[];
  nativeTps: number | null;
  nativeRatio: number | null;
  oursTps: number;
  torchTps: number | null;
  ratio: number | null;
  oursRssMiB: number;
  nativeRssMiB: number | null;
  torchRssMiB: number | null;
  stepGflop: number;
  oursGflops: number;
  torchGflops: number | null;
  note?: string;
}

export default async function throughputBench(): Promise<void> {
  const models = (process.env.BENCH_MODELS ?? "ref,smollm2").split(",");
  const methods = (process.env.BENCH_METHODS ?? "full,lora,qlora").split(",") as MethodName[];
  const threads = Number(process.env.SFTKIT_THREADS ?? availableParallelism());
  const torchMissing = torchAvailable();
  if (torchMissing) console.log(`torch side skipped: ${torchMissing}`);
  // The native tier, measured as extra columns where it is built.
  const availability = nativeAvailability({});
  const native = process.env.BENCH_NATIVE !== "0" && availability.active;
  if (!native)
    console.log(
      `ours+native skipped: ${process.env.BENCH_NATIVE === "0" ? "BENCH_NATIVE=0" : availability.reason}`,
    );
  console.log(
    `throughput bench: ${availableParallelism()} CPUs, ${threads} threads on both sides; alternating torch/ours per cell`,
  );
  const cells: Cell[] = [];
  let oursPeak = 0;
  let torchPeak = 0;
  for (const name of models) {
    const isRef = name === "ref";
    const model = isRef ? REF : SMOLLM2;
    const rounds = Number(process.env.BENCH_ROUNDS ?? (isRef ? 2 : 1));
    const steps = Number(process.env.BENCH_STEPS ?? (isRef ? 3 : 1));
    const batch = isRef ? 8 : 1;
    const label = isRef ? "ref-7.1M" : `smollm2-shaped-${(countParameters(model).total / 1e6).toFixed(0)}M`;
    for (const method of methods) {
      const job: Job = {
        modelName: label,
        model,
        method,
        batch,
        seq: 256,
        steps,
        warmup: 1,
        loraRank: 8,
        loraAlpha: 16,
        loraTargets: ["q_proj", "v_proj"],
        peak: cells.length === 0,
        threads,
      };
      const o: RunResult[] = [];
      const t: RunResult[] = [];
      const nat: RunResult[] = [];
      for (let r = 0; r < rounds; r++) {
        if (!torchMissing) t.push(runTorch({ ...job, peak: job.peak && r === 0 }));
        o.push(runOurs({ ...job, peak: job.peak && r === 0 }));
        if (native) nat.push(runOurs({ ...job, peak: false, native: true }));
      }
      for (const x of o) if (x.matmulPeakGflops) oursPeak = Math.max(oursPeak, x.matmulPeakGflops);
      for (const x of t) if (x.matmulPeakGflops) torchPeak = Math.max(torchPeak, x.matmulPeakGflops);
      const ok = (xs: RunResult[]) => xs.filter((x) => !x.error && x.tokensPerSecond > 0);
      const oursTps = ok(o).length ? median(ok(o).map((x) => x.tokensPerSecond)) : 0;
      const torchTps = ok(t).length ? median(ok(t).map((x) => x.tokensPerSecond)) : null;
      const nativeTps = ok(nat).length ? median(ok(nat).map((x) => x.tokensPerSecond)) : null;
      const gflop = stepFlops(model, method, batch, 256) / 1e9;
      const stepsPerSec = (tps: number) => tps / (batch * 256);
      const errors = [...o, ...t, ...nat].filter((x) => x.error).map((x) => x.error);
      const cell: Cell = {
        model: label,
        method,
        batch,
        seq: 256,
        ours: o,
        torch: t,
        native: nat,
        nativeTps,
        nativeRatio: nativeTps && torchTps ? nativeTps / torchTps : null,
        oursTps,
        torchTps,
        ratio: torchTps ? oursTps / torchTps : null,
        oursRssMiB: Math.max(0, ...ok(o).map((x) => x.peakRssMiB)),
        nativeRssMiB: ok(nat).length ? Math.max(...ok(nat).map((x) => x.peakRssMiB)) : null,
        torchRssMiB: ok(t).length ? Math.max(...ok(t).map((x) => x.peakRssMiB)) : null,
        stepGflop: gflop,
        oursGflops: gflop * stepsPerSec(oursTps),
        torchGflops: torchTps ? gflop * stepsPerSec(torchTps) : null,
        ...(errors.length ? { note: errors.join("; ") } : {}),
      };
      cells.push(cell);
      console.log(
        `${label} ${method}: ours ${oursTps.toFixed(0)} tok/s (${cell.oursRssMiB.toFixed(0)} MiB)${native ? `, ours+native ${nativeTps?.toFixed(0) ?? "-"} tok/s (${cell.nativeRssMiB?.toFixed(0) ?? "-"} MiB)` : ""}, torch ${torchTps?.toFixed(0) ?? "-"} tok/s (${cell.torchRssMiB?.toFixed(0) ?? "-"} MiB)${cell.note ? ` [${cell.note}]` : ""}`,
      );
    }
  }
  const peak = Math.max(torchPeak, oursPeak);
  const pct = (g: number | null) => (g === null || !peak ? "-" : `${((100 * g) / peak).toFixed(0)}%`);
  const rows = [
    [
      "model",
      "method",
      "batch x seq",
      "ours tok/s",
      "torch tok/s",
      "ratio",
      ...(native ? ["ours+native tok/s", "ratio+native"] : []),
      "ours RSS MiB",
      ...(native ? ["native RSS MiB"] : []),
      "torch RSS MiB",
      "ours GFLOP/s",
      ...(native ? ["native GFLOP/s"] : []),
      "torch GFLOP/s",
    ],
    ...cells.map((c) => [
      c.model,
      c.method,
      `${c.batch} x ${c.seq}`,
      c.oursTps.toFixed(0),
      c.torchTps?.toFixed(0) ?? "-",
      c.ratio?.toFixed(2) ?? "-",
      ...(native ? [c.nativeTps?.toFixed(0) ?? "-", c.nativeRatio?.toFixed(2) ?? "-"] : []),
      c.oursRssMiB.toFixed(0),
      ...(native ? [c.nativeRssMiB?.toFixed(0) ?? "-"] : []),
      c.torchRssMiB?.toFixed(0) ?? "-",
      `${c.oursGflops.toFixed(1)} (${pct(c.oursGflops)})`,
      ...(native
        ? [
            c.nativeTps === null
              ? "-"
              : `${(c.stepGflop * (c.nativeTps / (c.batch * c.seq))).toFixed(1)} (${pct(c.stepGflop * (c.nativeTps / (c.batch * c.seq)))})`,
          ]
        : []),
      c.torchGflops === null ? "-" : `${c.torchGflops.toFixed(1)} (${pct(c.torchGflops)})`,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  console.log("");
  for (const r of rows) console.log(r.map((v, i) => v.padStart(widths[i]!)).join("  "));
  console.log(
    `\nmatmul peak (f32, same run): torch/OpenBLAS ${torchPeak ? torchPeak.toFixed(1) : "-"} GFLOP/s, tfjs wasm ${oursPeak.toFixed(1)} GFLOP/s; percentages are of the larger`,
  );
  const outDir = join(here, "results");
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, "throughput.json");
  writeFileSync(
    file,
    `${JSON.stringify({ date: new Date().toISOString(), cpus: availableParallelism(), matmulPeakGflops: { torch: torchPeak || null, wasm: oursPeak }, cells }, null, 2)}\n`,
  );
  console.log(`written ${file}`);
}

const child = process.env.THROUGHPUT_CHILD;
if (child) {
  delete process.env.THROUGHPUT_CHILD;
  try {
    console.log(JSON.stringify(await ours(JSON.parse(child) as Job)));
    process.exit(0);
  } catch (e) {
    console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    process.exit(1);
  }
}
