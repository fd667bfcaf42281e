// Measurement (not a test): the planner's estimated peak for the native engine against the measured
// peak RSS of native-engine steps, on random models of real shapes written as bf16 safetensors to a
// temporary folder (so loading is the real loader's). Each shape runs in its own process.
// `npx tsx packages/core/src/engines/native/measure-memory.ts [shape...] [--steps N]`
// shapes: qwen2.5-0.5b-lora (LoRA r16 all-linear, 1 x 512), llama-3.2-1b-qlora (QLoRA r16 all-linear, 1 x 256).
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { estimateMemory } from "../../compile/memory.ts";
import { planParameters } from "../../compile/params.ts";
import type { Plan } from "../../compile/plan-schema.ts";
import { MethodSchema } from "../../methods/registry.ts";
import { writeCheckpoint } from "../../model/checkpoint.ts";
import type { ModelConfig } from "../../model/config.ts";
import { familyOf } from "../../model/families/index.ts";
import { expectedTensors } from "../../model/llama.ts";
import { tinyConfig } from "../../model/tiny.ts";
import { mulberry32 } from "../../util/mulberry32.ts";
import { createNativeEngine } from "./engine.ts";
import { nativeMemoryModel } from "./memory.ts";
import { enginePlan, tempDir } from "./testing.ts";

interface Shape {
  cfg: ModelConfig;
  method: unknown;
  batch: number;
  seqLen: number;
}

const SHAPES: Record<string, Shape> = {
  "qwen2.5-0.5b-lora": {
    cfg: tinyConfig("qwen2", {
      vocabSize: 151936,
      hiddenSize: 896,
      intermediateSize: 4864,
      numLayers: 24,
      numHeads: 14,
      numKvHeads: 2,
      headDim: 64,
      maxPositionEmbeddings: 32768,
      rmsNormEps: 1e-6,
      tieWordEmbeddings: true,
      torchDtype: "bfloat16",
    }),
    method: { kind: "lora", rank: 16, alpha: 32, dropout: 0.05, targets: "all-linear" },
    batch: 1,
    seqLen: 512,
  },
  "llama-3.2-1b-qlora": {
    cfg: tinyConfig("llama", {
      vocabSize: 128256,
      hiddenSize: 2048,
      intermediateSize: 8192,
      numLayers: 16,
      numHeads: 32,
      numKvHeads: 8,
      headDim: 64,
      maxPositionEmbeddings: 131072,
      rmsNormEps: 1e-5,
      tieWordEmbeddings: true,
      torchDtype: "bfloat16",
    }),
    method: { kind: "qlora", rank: 16, alpha: 32, dropout: 0.05, targets: "all-linear" },
    batch: 1,
    seqLen: 256,
  },
};

const threads = Number(process.env.SFTKIT_THREADS) || 2;
const gib = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;
const status = () => readFileSync("/proc/self/status", "utf8");
const kib = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status())![1]) * 1024;

function planFor(shape: Shape): Plan {
  const p = enginePlan(shape.cfg, shape.method);
  return {
    ...p,
    backend: { requested: "auto", chosen: "cpu", available: [], threads, reason: "" },
  } as Plan;
}

/** The planner's estimate for the shape, as `sft plan` computes it for the native engine. */
export function estimateFor(shape: Shape): Plan["memory"] {
  const method = MethodSchema.parse(shape.method);
  const { groups } = planParameters(
    shape.cfg,
    shape.cfg.vocabSize,
    0,
    method,
    nativeMemoryModel.frozenStorage,
  );
  return estimateMemory({
    cfg: shape.cfg,
    vocab: shape.cfg.vocabSize,
    groups,
    method,
    tokensPerMicroBatch: shape.batch * shape.seqLen,
    sequenceLength: shape.seqLen,
    gradientCheckpointing: false,
    device: nativeMemoryModel.device(),
    engine: nativeMemoryModel,
    threads,
  });
}

/** A HF folder: config.json and model.safetensors of N(0, 0.02)-ish bf16 values (norms 1). */
async function writeRandom(shape: Shape, dir: string): Promise<void> {
  const cfg = shape.cfg;
  writeFileSync(join(dir, "config.json"), JSON.stringify(familyOf(cfg).toHfConfig(cfg)));
  const tensors = expectedTensors(cfg).map(({ name, shape: dims }, i) => ({
    name,
    shape: dims,
    data: () => {
      const n = dims.reduce((a, b) => a * b, 1);
      if (name.endsWith("norm.weight")) return new Float32Array(n).fill(1);
      const r = mulberry32(i + 1);
      // Sum of three uniforms: close enough to a normal for memory figures, and fast.
      const out = new Float32Array(n);
      for (let j = 0; j < n; j++) out[j] = (r() + r() + r() - 1.5) * 0.04;
      return out;
    },
  }));
  await writeCheckpoint(dir, tensors, { dtype: "BF16" });
}

async function measure(shape: Shape, dir: string, steps: number): Promise<void> {
  const plan = planFor(shape);
  const engine = await createNativeEngine(plan);
  const t0 = performance.now();
  await engine.load({ plan, model: { dir } });
  const load = { s: (performance.now() - t0) / 1000, rss: process.memoryUsage().rss, peak: kib("VmHWM") };
  // Reset the high-water mark so the steps' peak is read on its own (Linux: clear_refs 5).
  writeFileSync("/proc/self/clear_refs", "5");
  const { batch: B, seqLen: S } = shape;
  const ids = Int32Array.from({ length: B * S }, (_, i) => (i * 7919) % shape.cfg.vocabSize);
  const times: number[] = [];
  for (let s = 0; s < steps; s++) {
    const t = performance.now();
    const r = await engine.forwardBackward({ batch: B, seqLen: S, ids, labels: ids }, { seed: s });
    await engine.applyStep({ learningRate: 1e-4, clipNorm: 1, trainedTokens: r.trainedTokens });
    times.push((performance.now() - t) / 1000);
  }
  console.log(
    JSON.stringify({ load, stepSeconds: times, stepPeak: kib("VmHWM"), engine: engine.memory().bytes }),
  );
  engine.dispose();
}

const args = process.argv.slice(2);
const stepsAt = args.indexOf("--steps");
const steps = stepsAt >= 0 ? Number(args[stepsAt + 1]) : 2;
const names = args.filter((a, i) => !a.startsWith("--") && i !== stepsAt + 1 && a in SHAPES);
const self = fileURLToPath(import.meta.url);

if (args[0] === "--child") {
  const [, what, name, dir] = args;
  const shape = SHAPES[name!]!;
  await (what === "write" ? writeRandom(shape, dir!) : measure(shape, dir!, steps));
} else {
  for (const name of names.length ? names : Object.keys(SHAPES)) {
    const shape = SHAPES[name]!;
    const est = estimateFor(shape);
    const dir = tempDir("measure");
    try {
      const run = (what: string) => {
        const r = spawnSync(
          process.execPath,
          [...process.execArgv, self, "--child", what, name, dir, "--steps", String(steps)],
          { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
        );
        if (r.status !== 0) throw new Error(`${name}: ${what} failed (${r.status})`);
        return r.stdout;
      };
      run("write");
      const m = JSON.parse(run("measure").trim().split("\n").pop()!) as {
        load: { s: number; rss: number; peak: number };
        stepSeconds: number[];
        stepPeak: number;
        engine: number;
      };
      const off = (est.peak - m.stepPeak) / m.stepPeak;
      console.log(
        `${name} ${shape.batch}x${shape.seqLen}, ${threads} threads: estimated peak ${gib(est.peak)} ` +
          `(weights ${gib(Object.values(est.weights).reduce((a, b) => a + b, 0))}, grads+moments ${gib(est.gradients + est.optimizerState)}, ` +
          `activations ${gib(est.activations)}, logits ${gib(est.logits)}, scratch ${gib(est.scratch ?? 0)}, ` +
          `runtime ${gib(est.runtime ?? 0)}, workspace ${gib(est.workspace)}); measured step peak RSS ${gib(m.stepPeak)} ` +
          `(${off >= 0 ? "+" : ""}${(off * 100).toFixed(1)}%); load ${m.load.s.toFixed(1)} s, RSS after load ${gib(m.load.rss)}, ` +
          `load peak ${gib(m.load.peak)} (${m.load.peak > est.peak ? "+" : ""}${(((m.load.peak - est.peak) / est.peak) * 100).toFixed(1)}% against the estimated peak); engine-held ${gib(m.engine)}; steps ${m.stepSeconds.map((s) => s.toFixed(1)).join(", ")} s`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
