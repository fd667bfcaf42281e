// Imports a llama2.c checkpoint (karpathy/llama2.c `run.c` format: 7 int32 header + float32 weights)
// into the HF layout. llama2.c rotates interleaved pairs; transformers rotates halves, so q/k rows
// are permuted as transformers' convert_llama_weights_to_hf does.
import { mkdir, open, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { writeCheckpoint } from "./checkpoint.ts";
import { type ModelConfig, toHfConfig } from "./config.ts";
import type { TensorToWrite } from "./safetensors.ts";

export class Llama2cError extends Error {
  override name = "Llama2cError";
}

/** Reads the header; `shared` is false when the file carries its own classifier (negative vocab). */
export function llama2cConfig(header: Int32Array, file: string): { cfg: ModelConfig; shared: boolean } {
  const [dim, hidden, layers, heads, kvHeads, vocabRaw, seqLen] = Array.from(header) as number[];
  const bad = [dim, hidden, layers, heads, kvHeads, seqLen].some((v) => !(v! > 0 && v! < 1 << 24));
  if (bad || !vocabRaw || Math.abs(vocabRaw) >= 1 << 24 || dim! % heads! !== 0 || heads! % kvHeads! !== 0)
    throw new Llama2cError(`${file}: not a llama2.c checkpoint (header ${Array.from(header).join(", ")})`);
  return {
    shared: vocabRaw > 0,
    cfg: {
      architecture: "llama",
      vocabSize: Math.abs(vocabRaw),
      hiddenSize: dim!,
      intermediateSize: hidden!,
      numLayers: layers!,
      numHeads: heads!,
      numKvHeads: kvHeads!,
      headDim: dim! / heads!,
      maxPositionEmbeddings: seqLen!,
      rmsNormEps: 1e-5,
      ropeTheta: 10000,
      ropeScaling: null,
      tieWordEmbeddings: vocabRaw > 0,
      attentionBias: false,
      mlpBias: false,
      bosTokenId: 1,
      eosTokenId: 2,
      torchDtype: "float32",
    },
  };
}

/** Interleaved-pair rows -> rotate-half rows, per head: w.view(h, hd/2, 2, in).transpose(1, 2). */
function permuteRows(w: Float32Array, heads: number, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  const hd = rows / heads;
  for (let h = 0; h < heads; h++)
    for (let i = 0; i < hd / 2; i++)
      for (let p = 0; p < 2; p++) {
        const src = (h * hd + 2 * i + p) * cols;
        const dst = (h * hd + p * (hd / 2) + i) * cols;
        out.set(w.subarray(src, src + cols), dst);
      }
  return out;
}

/** Converts `<bin>` into `<outDir>/config.json` + `model.safetensors`; returns the config. */
export async function importLlama2c(bin: string, outDir: string): Promise<ModelConfig> {
  const fh = await open(bin, "r");
  try {
    const size = (await fh.stat()).size;
    const hb = new Int32Array(7);
    await fh.read(new Uint8Array(hb.buffer), 0, 28, 0);
    const { cfg, shared } = llama2cConfig(hb, bin);
    const d = cfg.hiddenSize;
    const F = cfg.intermediateSize;
    const L = cfg.numLayers;
    const kv = cfg.numKvHeads * cfg.headDim;
    const V = cfg.vocabSize;
    const freq = cfg.maxPositionEmbeddings * (cfg.headDim / 2) * 2;
    // Sections in file order, with their shapes (layers stacked first).
    const sections: [string, number[]][] = [
      ["embed", [V, d]],
      ["rms_att", [L, d]],
      ["wq", [L, d, d]],
      ["wk", [L, kv, d]],
      ["wv", [L, kv, d]],
      ["wo", [L, d, d]],
      ["rms_ffn", [L, d]],
      ["w1", [L, F, d]],
      ["w2", [L, d, F]],
      ["w3", [L, F, d]],
      ["rms_final", [d]],
      ["freq", [freq]],
    ];
    if (!shared) sections.push(["wcls", [V, d]]);
    const offsets = new Map<string, number>();
    let at = 28;
    for (const [name, shape] of sections) {
      offsets.set(name, at);
      at += 4 * shape.reduce((a, b) => a * b, 1);
    }
    if (at !== size)
      throw new Llama2cError(
        `${bin}: file is ${size} bytes but the header describes ${at} (truncated or a different format version)`,
      );
    const read = async (name: string, index: number, count: number): Promise<Float32Array> => {
      const out = new Float32Array(count);
      await fh.read(new Uint8Array(out.buffer), 0, count * 4, offsets.get(name)! + index * count * 4);
      return out;
    };
    const t = (name: string, shape: number[], data: () => Promise<Float32Array>): TensorToWrite => ({
      name,
      shape,
      data,
    });
    const tensors: TensorToWrite[] = [t("model.embed_tokens.weight", [V, d], () => read("embed", 0, V * d))];
    for (let l = 0; l < L; l++) {
      const p = `model.layers.${l}`;
      tensors.push(
        t(`${p}.input_layernorm.weight`, [d], () => read("rms_att", l, d)),
        t(`${p}.self_attn.q_proj.weight`, [d, d], async () =>
          permuteRows(await read("wq", l, d * d), cfg.numHeads, d, d),
        ),
        t(`${p}.self_attn.k_proj.weight`, [kv, d], async () =>
          permuteRows(await read("wk", l, kv * d), cfg.numKvHeads, kv, d),
        ),
        t(`${p}.self_attn.v_proj.weight`, [kv, d], () => read("wv", l, kv * d)),
        t(`${p}.self_attn.o_proj.weight`, [d, d], () => read("wo", l, d * d)),
        t(`${p}.mlp.gate_proj.weight`, [F, d], () => read("w1", l, F * d)),
        t(`${p}.mlp.up_proj.weight`, [F, d], () => read("w3", l, F * d)),
        t(`${p}.mlp.down_proj.weight`, [d, F], () => read("w2", l, d * F)),
        t(`${p}.post_attention_layernorm.weight`, [d], () => read("rms_ffn", l, d)),
      );
    }
    tensors.push(t("model.norm.weight", [d], () => read("rms_final", 0, d)));
    if (!shared) tensors.push(t("lm_head.weight", [V, d], () => read("wcls", 0, V * d)));
    await mkdir(outDir, { recursive: true });
    await writeCheckpoint(outDir, tensors);
    await writeFile(join(outDir, "config.json"), `${JSON.stringify(toHfConfig(cfg), null, 2)}\n`);
    return cfg;
  } finally {
    await fh.close();
  }
}
