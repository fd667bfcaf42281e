// Random checkpoints of the shapes people fine-tune, written once in HF format (bf16 shards) under
// bench/results/models and reused by the benches that load real-size models from disk.
import { copyFileSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tensorInventory } from "../packages/core/src/compile/params.ts";
import { writeCheckpoint } from "../packages/core/src/model/checkpoint.ts";
import type { ModelConfig } from "../packages/core/src/model/config.ts";
import { countParameters, tensorKinds, toHfConfig } from "../packages/core/src/model/config.ts";
import type { StDtype } from "../packages/core/src/model/dtype.ts";
import { referenceConfig } from "../packages/core/src/model/tiny.ts";

const here = import.meta.dirname;
const stories = join(here, "..", "examples/models/stories260K");

function shape(over: Partial<ModelConfig> & Pick<ModelConfig, "architecture">): ModelConfig {
  return referenceConfig({ maxPositionEmbeddings: 8192, ropeTheta: 1e6, rmsNormEps: 1e-6, ...over });
}

export const QWEN_05B = shape({
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
export const QWEN_15B = shape({
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
export const LLAMA_1B = shape({
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
export const LLAMA_3B = shape({
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
/** A deterministic random HF checkpoint of `cfg` in `dtype`, written once and reused. */
export async function ensureCheckpoint(row: { model: ModelConfig; dtype: StDtype }): Promise<string> {
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
