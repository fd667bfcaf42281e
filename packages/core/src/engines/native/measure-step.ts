// Quick measurement (not a test): tokens/s and RSS of native-engine steps on a random model of a real
// shape. `npx tsx packages/core/src/engines/native/measure-step.ts [batch] [seqLen] [steps]`
// (default: Qwen2.5-0.5B-shaped, LoRA r16 all-linear, bf16 frozen weights, 1 x 512).
import { readFileSync } from "node:fs";
import type { Plan } from "../../compile/plan-schema.ts";
import { tinyConfig } from "../../model/tiny.ts";
import { createNativeEngine } from "./engine.ts";
import { enginePlan } from "./testing.ts";

const [B = 1, S = 512, steps = 3] = process.argv.slice(2).map(Number);
const cfg = tinyConfig("qwen2", {
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
});
const plan = {
  ...enginePlan(cfg, { kind: "lora", rank: 16, alpha: 32, dropout: 0.05, targets: "all-linear" }),
  backend: {
    requested: "auto",
    chosen: "wasm",
    available: [],
    threads: Number(process.env.SFTKIT_THREADS) || 2,
    reason: "",
  },
} as Plan;
const hwm = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))![1]) * 1024;
const gib = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;

const engine = await createNativeEngine(plan);
let t0 = performance.now();
await engine.load({ plan, model: { config: cfg, seed: 0 } });
console.log(
  `${engine.describe()}; load ${((performance.now() - t0) / 1000).toFixed(1)} s; rss ${gib(process.memoryUsage().rss)}`,
);
console.log(`engine memory: ${gib(engine.memory().bytes)} (${engine.memory().detail})`);
const ids = Int32Array.from({ length: B * S }, (_, i) => (i * 7919) % cfg.vocabSize);
const batch = { batch: B, seqLen: S, ids, labels: ids };
for (let s = 0; s <= steps; s++) {
  t0 = performance.now();
  const r = await engine.forwardBackward(batch, { seed: s });
  const t1 = performance.now();
  await engine.applyStep({ learningRate: 1e-4, clipNorm: 1, trainedTokens: r.trainedTokens });
  const t2 = performance.now();
  const sec = (t2 - t0) / 1000;
  console.log(
    `step ${s}${s === 0 ? " (warm-up)" : ""}: ${sec.toFixed(2)} s (fwd+bwd ${((t1 - t0) / 1000).toFixed(2)}, adamw ${((t2 - t1) / 1000).toFixed(2)}) = ${((B * S) / sec).toFixed(1)} tokens/s; loss ${(r.lossSum / r.trainedTokens).toFixed(4)}; rss ${gib(process.memoryUsage().rss)}, peak ${gib(hwm())}`,
  );
}
engine.dispose();
