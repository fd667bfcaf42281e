// Where a training step's time goes: wraps every wasm kernel with a timer and runs a few steps
// of the reference model. `npx tsx bench/profile-step.ts [full|lora|qlora]` (SFTKIT_NATIVE=0 for
// pure wasm where the native tier is built). Kernel times are exact (wasm kernels are synchronous).
import { buildMethod } from "../packages/core/src/methods/index.ts";
import { initBackend } from "../packages/core/src/model/backend.ts";
import { randomModel } from "../packages/core/src/model/llama.ts";
import { nativeStatus } from "../packages/core/src/model/native/load.ts";
import { tf } from "../packages/core/src/model/tf.ts";
import { referenceConfig, smollm2Config } from "../packages/core/src/model/tiny.ts";
import { lossAndGrads, sgdUpdate } from "../packages/core/src/model/train-step.ts";

const method = (process.argv[2] ?? "full") as "full" | "lora" | "qlora";
const info = await initBackend();
console.log(
  `${info.backend}, ${info.threads} thread(s), native tier: ${nativeStatus().active ? "on" : nativeStatus().reason}`,
);
const times = new Map<string, { ms: number; n: number }>();
for (const k of tf.getKernelsForBackend(info.backend)) {
  const f = k.kernelFunc;
  tf.unregisterKernel(k.kernelName, k.backendName);
  tf.registerKernel({
    ...k,
    kernelFunc: (args) => {
      const t0 = performance.now();
      const r = f(args);
      const e = times.get(k.kernelName) ?? { ms: 0, n: 0 };
      e.ms += performance.now() - t0;
      e.n++;
      times.set(k.kernelName, e);
      return r;
    },
  });
}
// PROFILE_MODEL=smollm2 (batch 1; SMOLLM2_LAYERS, default 30) or the reference model (batch 8).
const smol = process.env.PROFILE_MODEL === "smollm2";
const cfg = smol ? smollm2Config({ numLayers: Number(process.env.SMOLLM2_LAYERS ?? 30) }) : referenceConfig();
const model = randomModel(cfg, { seed: 1 });
const B = smol ? 1 : 8;
const S = 256;
const plan = {
  method:
    method === "full"
      ? { kind: "full" }
      : {
          kind: method,
          rank: 8,
          alpha: 16,
          dropout: 0,
          targets: ["q_proj", "v_proj"],
          trainNewTokens: false,
          ...(method === "qlora" ? { quantization: { blockSize: 64, doubleQuant: true } } : {}),
        },
  seed: 1,
  tokenizer: { added: [] },
  model: { vocab: { model: cfg.vocabSize, tokenizer: cfg.vocabSize, total: cfg.vocabSize } },
  memory: { gradientCheckpointing: false },
} as never;
const runtime = buildMethod(model, plan, 1);
const vars = [...runtime.trainable.values()];
const labels = new Int32Array(B * S).map((_, i) =>
  i % S < S / 4 ? -100 : 5 + ((i * 7919) % (cfg.vocabSize - 5)),
);
const ids = Int32Array.from(labels, (v, i) => (v < 0 ? 3 + (i % 97) : v));
const input = { batch: { batch: B, seqLen: S, ids }, labels };
const step = async () => {
  const fw = runtime.forward(true, 1);
  const r = await lossAndGrads(model, input, vars, { hooks: fw.hooks, recompute: fw.recompute });
  sgdUpdate(vars, r.grads, 1e-3 / r.tokens);
  tf.dispose(r.grads);
};
await step();
times.clear();
const N = Number(process.env.PROFILE_STEPS ?? 3);
const t0 = performance.now();
for (let i = 0; i < N; i++) await step();
const total = (performance.now() - t0) / N;
let inKernels = 0;
const rows = [...times.entries()].sort((a, b) => b[1].ms - a[1].ms);
for (const [, v] of rows) inKernels += v.ms / N;
console.log(
  `${method}: ${total.toFixed(0)} ms/step (${((B * S * 1000) / total).toFixed(0)} tok/s), kernels ${inKernels.toFixed(0)} ms, outside ${(total - inKernels).toFixed(0)} ms`,
);
for (const [k, v] of rows.slice(0, 25))
  console.log(
    `${k.padEnd(22)} ${(v.ms / N).toFixed(1).padStart(8)} ms  ${String(v.n / N).padStart(6)} calls`,
  );
