// phi3 (Phi-3, Phi-3.5, Phi-4-mini): checkpoints written as transformers stores them (fused qkv_proj and
// gate_up_proj, its config.json keys) load and match a float64 reference written from modeling_phi3.py
// (reference-forward-phi3.ts names the file and commit).
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "./backend.ts";
import { padRows } from "./batch.ts";
import { Checkpoint } from "./checkpoint.ts";
import { loadModel, Model } from "./llama.ts";
import { phi3Json, writePhi3 } from "./phi3.testing.ts";
import { phi3ReferenceLogits } from "./reference-forward-phi3.ts";

let dir: string;
beforeAll(async () => {
  await initBackend();
  dir = await mkdtemp(join(tmpdir(), "sft-phi3-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function checkpointWeights(path: string): Promise<Map<string, Float32Array>> {
  const ck = await Checkpoint.open(path);
  const w = new Map<string, Float32Array>();
  for (const n of ck.names()) w.set(n, await ck.readF32(n));
  await ck.close();
  return w;
}

function maxAbsDiff(a: number[][], b: number[][]): number {
  let m = 0;
  a.forEach((r, i) => {
    r.forEach((v, j) => {
      m = Math.max(m, Math.abs(v - b[i]![j]!));
    });
  });
  return m;
}

const ids = [1, 5, 9, 33, 2, 7, 60, 12, 3, 44, 17, 8];
// Longrope factors for 3 frequencies (0.75 of head_dim 8 rotates 6 dims).
const longrope = {
  type: "longrope",
  short_factor: [1.0, 1.3, 2.1],
  long_factor: [1.7, 3.2, 5.9],
};

describe("phi3 forward against the float64 reference from modeling_phi3.py", () => {
  const cases: [string, Record<string, unknown>, "F32" | "BF16"][] = [
    ["float32, partial rotary 0.75, tied (Phi-4-mini's shape)", phi3Json(), "F32"],
    [
      "bf16 checkpoint, untied, full rotary (Phi-3's shape)",
      phi3Json({ partial_rotary_factor: undefined, tie_word_embeddings: false, torch_dtype: "bfloat16" }),
      "BF16",
    ],
    [
      "longrope with short factors (sequence within original_max_position_embeddings)",
      phi3Json({
        rope_scaling: longrope,
        original_max_position_embeddings: 16,
        max_position_embeddings: 256,
      }),
      "F32",
    ],
    [
      "longrope with long factors (sequence past original_max_position_embeddings)",
      phi3Json({ rope_scaling: longrope, original_max_position_embeddings: 8, max_position_embeddings: 256 }),
      "F32",
    ],
    // Phi-3-mini's config has sliding_window 2047 (of 4096 positions): here 4, shorter than the 12 ids.
    ["sliding_window 4 on every layer, shorter than the sequence", phi3Json({ sliding_window: 4 }), "F32"],
  ];
  for (const [what, json, dtype] of cases) {
    it(`${what}: loadModel(dir).logits equal the reference within 1e-4`, async () => {
      const p = join(dir, what.replace(/\W+/g, "-"));
      await writePhi3(p, json, { dtype });
      const m = await loadModel(p);
      const got = (await m.logits([ids]))[0]!;
      const ref = phi3ReferenceLogits(json, await checkpointWeights(p), ids);
      expect(maxAbsDiff(got, ref)).toBeLessThan(1e-4);
      // The logits move well beyond the tolerance across positions: the check can fail.
      expect(maxAbsDiff([got[0]!], [got[1]!])).toBeGreaterThan(0.01);
      m.dispose();
    });
  }

  it("the rotary part matters: partial rotary and longrope change the logits against full, plain RoPE", async () => {
    const p = join(dir, "plain");
    const q = join(dir, "partial-longrope");
    await writePhi3(p, phi3Json({ partial_rotary_factor: 1 }));
    await writePhi3(
      q,
      phi3Json({
        rope_scaling: longrope,
        original_max_position_embeddings: 16,
        max_position_embeddings: 256,
      }),
    );
    const a = await loadModel(p);
    const b = await loadModel(q);
    expect(maxAbsDiff((await a.logits([ids]))[0]!, (await b.logits([ids]))[0]!)).toBeGreaterThan(1e-3);
    a.dispose();
    b.dispose();
  });
});

describe("phi3 prefixes and the KV cache", () => {
  let m: Model;
  beforeAll(async () => {
    const p = join(dir, "cache");
    await writePhi3(p, phi3Json(), { seed: 7 });
    m = await loadModel(p);
  });
  afterAll(() => m.dispose());

  it("the logits of a prefix equal the first rows of the longer sequence", async () => {
    const full = (await m.logits([ids]))[0]!;
    const prefix = (await m.logits([ids.slice(0, 5)]))[0]!;
    expect(maxAbsDiff(prefix, full.slice(0, 5))).toBeLessThan(1e-5);
  });

  it("decoding with the KV cache equals recomputing the whole sequence at every step", async () => {
    const cache = m.newCache();
    tf.dispose(m.lastLogitsTensor({ batch: 1, seqLen: 4, ids: Int32Array.from(ids.slice(0, 4)) }, { cache }));
    for (let t = 4; t < ids.length; t++) {
      const step = m.lastLogitsTensor({ batch: 1, seqLen: 1, ids: Int32Array.from([ids[t]!]) }, { cache });
      const cached = (await step.array())[0]!;
      step.dispose();
      const whole = m.lastLogitsTensor(padRows([ids.slice(0, t + 1)]));
      const recomputed = (await whole.array())[0]!;
      whole.dispose();
      expect(maxAbsDiff([cached], [recomputed])).toBeLessThan(1e-5);
    }
    Model.disposeCache(cache);
  });

  it("writes the model back as transformers stores it: fused tensors and phi3 keys", async () => {
    const out = join(dir, "saved");
    await m.save(out);
    const ck = await Checkpoint.open(out);
    expect(ck.info("model.layers.0.self_attn.qkv_proj.weight").shape).toEqual([32 + 2 * 16, 32]);
    expect(ck.info("model.layers.0.mlp.gate_up_proj.weight").shape).toEqual([96, 32]);
    expect(ck.names().some((n) => /q_proj|gate_proj\.|up_proj\./.test(n.replace("gate_up_proj", "")))).toBe(
      false,
    );
    await ck.close();
    const back = await loadModel(out);
    expect(maxAbsDiff((await back.logits([ids]))[0]!, (await m.logits([ids]))[0]!)).toBe(0);
    back.dispose();
    const written = JSON.parse(await readFile(join(out, "config.json"), "utf8")) as Record<string, unknown>;
    expect(written).toMatchObject({
      model_type: "phi3",
      architectures: ["Phi3ForCausalLM"],
      partial_rotary_factor: 0.75,
    });
  });
});
