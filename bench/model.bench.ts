// Model benchmark (not a test): training tokens/s and peak memory (RSS) for the 7.1M-parameter
// reference Llama of ARCHITECTURE.md — vocab 8192, d 256, 4 layers, 8 heads / 8 kv heads, ffn 688,
// untied lm_head (7.36M parameters), seq 256, batch 8 — on the default backend: a full-parameter
// step, a LoRA-style step (rank 8 on q_proj and v_proj, base frozen), then KV-cached greedy
// generation. Run: pnpm tsx bench/model.bench.ts (about 20 s; BENCH_STEPS, SFTKIT_THREADS,
// SFTKIT_BACKEND apply). Measured on the 2-core project machine, wasm SIMD, tfjs 4.22, while other
// jobs ran: 2 threads: full 1,100 tokens/s, LoRA 1,280, generation 265 tokens/s, peak RSS 1.27 GB;
// 1 thread: full 816, LoRA 1,148, generation 442.
import { resourceUsage } from "node:process";
import { pathToFileURL } from "node:url";
import { generate } from "../packages/core/src/engines/tfjs/generate.ts";
import { activationBytes } from "../packages/core/src/model/activations.ts";
import { initBackend } from "../packages/core/src/model/backend.ts";
import { countParameters } from "../packages/core/src/model/config.ts";
import { linear } from "../packages/core/src/model/kernels.ts";
import { type LinearSite, randomModel } from "../packages/core/src/model/llama.ts";
import { tf } from "../packages/core/src/model/tf.ts";
import { referenceConfig } from "../packages/core/src/model/tiny.ts";
import { lossAndGrads, sgdUpdate } from "../packages/core/src/model/train-step.ts";

const cfg = referenceConfig({ maxPositionEmbeddings: 1024 });
const BATCH = 8;
const SEQ = 256;
const STEPS = Number(process.env.BENCH_STEPS ?? 3);

function peakRssMiB(): number {
  return resourceUsage().maxRSS / 1024;
}

export default async function modelBench(): Promise<void> {
  const info = await initBackend();
  const params = countParameters(cfg).total;
  console.log(
    `model bench: backend ${info.backend} (threads ${info.threads}, simd ${info.simd}); ${(params / 1e6).toFixed(2)}M params; batch ${BATCH} x seq ${SEQ}`,
  );
  const m = randomModel(cfg, { seed: 1 });
  const T = BATCH * SEQ;
  let s = 12345;
  const ids = Int32Array.from({ length: T }, () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return 3 + (s % (cfg.vocabSize - 3));
  });
  const input = { batch: { batch: BATCH, seqLen: SEQ, ids }, labels: ids };

  async function timeSteps(
    name: string,
    vars: tf.Variable[],
    lr: number,
    hooks?: Parameters<typeof lossAndGrads>[3],
  ) {
    const run = async () => {
      const r = await lossAndGrads(m, input, vars, hooks);
      sgdUpdate(vars, r.grads, lr / r.tokens);
      tf.dispose(r.grads);
      return r.loss / r.tokens;
    };
    await run(); // warm-up: kernel setup and first allocations
    const t0 = performance.now();
    let loss = 0;
    for (let i = 0; i < STEPS; i++) loss = await run();
    const sec = (performance.now() - t0) / 1000 / STEPS;
    console.log(
      `${name}: ${(T / sec).toFixed(0)} tokens/s (${(sec * 1000).toFixed(0)} ms/step, ${STEPS} steps, loss ${loss.toFixed(3)}), peak RSS ${peakRssMiB().toFixed(0)} MiB, tensors ${tf.memory().numTensors}`,
    );
  }

  await timeSteps(
    "full-parameter step",
    m.parameters().map(([, v]) => v),
    0.1,
  );

  await timeSteps(
    "full-parameter step, recomputing layers",
    m.parameters().map(([, v]) => v),
    0.1,
    { recompute: true },
  );
  const est = activationBytes(cfg, { batch: BATCH, seqLen: SEQ });
  const estRec = activationBytes(cfg, { batch: BATCH, seqLen: SEQ, recompute: true });
  console.log(
    `activation estimate: peak ${(est.peak / 2 ** 20).toFixed(0)} MiB, with recomputation ${(estRec.peak / 2 ** 20).toFixed(0)} MiB`,
  );

  // LoRA-style: rank 8 adapters on q_proj and v_proj, base frozen.
  const r = 8;
  const adapters = new Map<string, [tf.Variable, tf.Variable]>();
  for (let l = 0; l < cfg.numLayers; l++)
    for (const name of ["q_proj", "v_proj"]) {
      const A = tf.variable(tf.randomNormal([cfg.hiddenSize, r], 0, 0.02), true, `bench-lora-${l}-${name}-A`);
      const B = tf.variable(tf.zeros([r, cfg.hiddenSize]), true, `bench-lora-${l}-${name}-B`);
      adapters.set(`${l}.${name}`, [A, B]);
    }
  const hooks = {
    linear: (x: tf.Tensor2D, base: (x: tf.Tensor2D) => tf.Tensor2D, site: LinearSite) => {
      const ab = adapters.get(`${site.layer}.${site.module}`);
      if (!ab) return base(x);
      const down = linear(x, ab[0] as tf.Tensor as tf.Tensor2D, null);
      return site.add(
        base(x),
        tf.mul(linear(down, ab[1] as tf.Tensor as tf.Tensor2D, null), 2) as tf.Tensor2D,
      );
    },
  };
  await timeSteps("LoRA step (r=8 on q,v)", [...adapters.values()].flat(), 0.1, { hooks });

  const genTokens = 64;
  await generate(m, [1, 5, 6, 7], { maxNewTokens: 4 });
  const g0 = performance.now();
  const out = await generate(m, [1, 5, 6, 7], { maxNewTokens: genTokens });
  const gsec = (performance.now() - g0) / 1000;
  console.log(
    `generation (greedy, KV cache, batch 1): ${(out.ids.length / gsec).toFixed(1)} tokens/s over ${out.ids.length} tokens; peak RSS ${peakRssMiB().toFixed(0)} MiB`,
  );
  tf.dispose([...adapters.values()].flat());
  m.dispose();
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await modelBench();
