// A saved PEFT adapter applied to a loaded base model for inference (`sft generate --adapter`).
import * as tf from "@tensorflow/tfjs-core";
import { readPeftAdapter } from "../export/peft-read.ts";
import { prefixHooks } from "../model/adapters/prefix.ts";
import { linearModules } from "../model/config.ts";
import type { AdapterHooks, Model } from "../model/llama.ts";
import { fillWithMeanRow, growVocabularyTables } from "../model/vocabulary.ts";

export interface AppliedAdapter {
  kind: "lora" | "prefix";
  hooks: AdapterHooks;
  dispose(): void;
}

/** Writes token rows into the stored tables (growing them when the ids run past the base vocabulary). */
function setRows(model: Model, ids: number[], embed: Float32Array, lmHead: Float32Array | null): void {
  const d = model.config.hiddenSize;
  const V = Math.max(model.config.vocabSize, ...ids.map((i) => i + 1));
  const given = [embed, lmHead];
  const grown = growVocabularyTables(
    model.config,
    (name) => model.w(name),
    V,
    (data, _table, index) => {
      const rows = given[index];
      if (rows) for (const [i, id] of ids.entries()) data.set(rows.subarray(i * d, (i + 1) * d), id * d);
    },
  );
  model.adoptVocabulary(grown, false);
}

/** Replaces base tensors with whole modules an adapter saved (PEFT modules_to_save), growing the tables first. */
function setWholeTensors(model: Model, whole: Map<string, { shape: number[]; data: Float32Array }>): void {
  const embed = whole.get("model.embed_tokens.weight");
  const rows = embed?.shape[0] ?? 0;
  if (embed && rows > model.config.vocabSize) {
    const d = model.config.hiddenSize;
    const ids = Array.from({ length: rows - model.config.vocabSize }, (_, i) => model.config.vocabSize + i);
    const head = whole.get("lm_head.weight");
    setRows(model, ids, embed.data.slice(ids[0]! * d), head ? head.data.slice(ids[0]! * d) : null);
  }
  for (const [name, t] of whole) {
    const v = model.w(name);
    // lm_head is stored transposed, [d, V].
    const value = tf.tidy(() => {
      const hf = tf.tensor(t.data, t.shape);
      return name === "lm_head.weight" ? tf.transpose(hf) : hf;
    });
    v.assign(value);
    value.dispose();
  }
}

/**
 * Grows the tables to `V` rows, new rows at the mean row (transformers' resize_token_embeddings default),
 * for tokens an adapter's tokenizer added but whose rows it does not carry (prefix tuning).
 */
export function growToMean(model: Model, V: number): void {
  const { vocabSize: oldV, hiddenSize: d } = model.config;
  if (V <= oldV) return;
  const grown = growVocabularyTables(
    model.config,
    (name) => model.w(name),
    V,
    (rows) => fillWithMeanRow(rows, oldV, d),
  );
  model.adoptVocabulary(grown, false);
}

/** Applies the adapter in `dir`; `vocabSize` (its tokenizer's) grows the tables for rows it does not carry. */
export async function applyAdapter(model: Model, dir: string, vocabSize = 0): Promise<AppliedAdapter> {
  const a = await readPeftAdapter(dir, model.config);
  if (a.kind === "lora" && a.tokens) setRows(model, a.tokens.ids, a.tokens.embed, a.tokens.lmHead);
  if (a.kind === "lora") setWholeTensors(model, a.whole);
  growToMean(model, vocabSize);
  if (a.kind === "prefix") {
    const table = tf.tensor2d(a.table, [a.virtualTokens, a.table.length / a.virtualTokens]);
    return { kind: "prefix", hooks: prefixHooks(model, () => table), dispose: () => table.dispose() };
  }
  const pairs = new Map<string, { at: tf.Tensor2D; bt: tf.Tensor2D; mn: tf.Tensor1D | null }>();
  const paths = new Map<string, string>(linearModules(model.config).map((m) => [m.name, m.path]));
  for (const [key, m] of a.matrices) {
    const inF = m.a.length / a.rank;
    const outF = m.b.length / a.rank;
    const at = tf.tidy(() => tf.transpose(tf.tensor2d(m.a, [a.rank, inF])));
    // Scale folded into B once.
    const bt = tf.tidy(() => tf.mul(tf.transpose(tf.tensor2d(m.b, [outF, a.rank])), a.scale) as tf.Tensor2D);
    // DoRA at inference: m / ‖W + s·B·A‖ per output row is a constant, computed once.
    const magnitude = m.magnitude;
    const mn = magnitude
      ? tf.tidy(() => {
          const wt = model.w(`model.layers.${m.layer}.${paths.get(m.module)}.weight`);
          const norm = tf.sqrt(tf.sum(tf.square(tf.add(wt, tf.matMul(at, bt))), 0));
          return tf.div(tf.tensor1d(magnitude), norm) as tf.Tensor1D;
        })
      : null;
    pairs.set(key, { at, bt, mn });
  }
  return {
    kind: "lora",
    hooks: {
      linear: (x, base, site) => {
        const p = pairs.get(`${site.layer}/${site.module}`);
        if (!p) return base(x);
        const y = base(x);
        const delta = tf.matMul(tf.matMul(x, p.at), p.bt) as tf.Tensor2D;
        if (!p.mn) return site.add(y, delta);
        // PEFT's DoRA: y + (m/n − 1)·(y − bias) + (m/n)·s·x·Aᵀ·Bᵀ.
        const noBias = site.bias ? tf.sub(y, site.bias) : y;
        return site.add(y, tf.add(tf.mul(noBias, tf.sub(p.mn, 1)), tf.mul(delta, p.mn)) as tf.Tensor2D);
      },
    },
    dispose() {
      for (const p of pairs.values()) {
        p.at.dispose();
        p.bt.dispose();
        p.mn?.dispose();
      }
    },
  };
}
