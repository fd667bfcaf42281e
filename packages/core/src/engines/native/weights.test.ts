import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { estimateMemory } from "../../compile/memory.ts";
import { planParameters } from "../../compile/params.ts";
import { MethodSchema } from "../../methods/registry.ts";
import { quantizeNF4 } from "../../model/adapters/nf4.ts";
import { uniformArray } from "../../model/adapters/random.ts";
import { writeCheckpoint } from "../../model/checkpoint.ts";
import { familyOf } from "../../model/families/index.ts";
import { expectedTensors } from "../../model/llama.ts";
import { tinyConfig } from "../../model/tiny.ts";
import { nativeMemoryModel } from "./memory.ts";
import { quantizedBaseTensors } from "./quantized.ts";
import { enginePlan, tempDir } from "./testing.ts";
import { ByteTally, loadBaseTensors, storedBytes, toF32 } from "./weights.ts";

// Big enough that the bf16 linears (22.5 MB) exceed their NF4 form plus the conversion scratch the plan
// reserves (5.9 + 8 MiB): a loader that holds them as bf16 before quantizing shows over the estimate.
const cfg = tinyConfig("llama", {
  vocabSize: 1000,
  hiddenSize: 512,
  intermediateSize: 1408,
  numLayers: 4,
  numHeads: 8,
  numKvHeads: 2,
  headDim: 64,
  maxPositionEmbeddings: 512,
  tieWordEmbeddings: true,
  torchDtype: "bfloat16",
});
const qlora = { kind: "qlora", rank: 8, alpha: 16, targets: "all-linear" };
let dir = "";

beforeAll(async () => {
  dir = tempDir("weights");
  writeFileSync(join(dir, "config.json"), JSON.stringify(familyOf(cfg).toHfConfig(cfg)));
  const tensors = expectedTensors(cfg).map(({ name, shape }, i) => ({
    name,
    shape,
    data: () =>
      uniformArray(
        shape.reduce((a, b) => a * b, 1),
        0.05,
        i + 1,
      ),
  }));
  await writeCheckpoint(dir, tensors, { dtype: "BF16" });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("loading a QLoRA base from safetensors", () => {
  it("quantizes the linears while reading: the load's peak stays within the plan's weights and scratch", async () => {
    const plan = enginePlan(cfg, qlora);
    const method = MethodSchema.parse(qlora);
    const { groups } = planParameters(cfg, cfg.vocabSize, 0, method, nativeMemoryModel.frozenStorage);
    const est = estimateMemory({
      cfg,
      vocab: cfg.vocabSize,
      groups,
      method,
      tokensPerMicroBatch: 256,
      sequenceLength: 256,
      gradientCheckpointing: false,
      device: nativeMemoryModel.device(),
      engine: nativeMemoryModel,
      threads: 1,
    });
    const tally = new ByteTally();
    const base = await loadBaseTensors(dir, cfg, () => false, {
      nf4: quantizedBaseTensors(plan, cfg),
      tally,
    });
    const linears = [...base.values()].filter((t) => /_proj\.weight$/.test(t.name));
    expect(linears).toHaveLength(7 * cfg.numLayers);
    for (const t of linears) expect(t.stored.dtype).toBe("nf4");
    // What the load keeps is what the tally saw, and what the plan counts as frozen weights.
    const held = [...base.values()].reduce((a, t) => a + storedBytes(t.stored), 0);
    expect(tally.live).toBe(held);
    const frozen = groups.filter((g) => g.role !== "trainable").reduce((a, g) => a + g.bytes, 0);
    expect(Math.abs(held - frozen) / frozen).toBeLessThan(0.01);
    // Above that only one chunk (and one tensor's float32 absmax): under the weights plus the scratch.
    const weights = Object.values(est.weights).reduce((a, b) => a + b, 0);
    expect(tally.peak).toBeLessThanOrEqual(weights + (est.scratch ?? 0));
    expect(tally.peak).toBeLessThan(est.peak);
  });

  it("quantizes chunk by chunk to exactly the codes of the whole bf16 tensor", async () => {
    const plan = enginePlan(cfg, qlora);
    const nf4 = quantizedBaseTensors(plan, cfg);
    const streamed = await loadBaseTensors(dir, cfg, () => false, { nf4 });
    const plain = await loadBaseTensors(dir, cfg, () => false);
    for (const name of ["model.layers.0.mlp.down_proj.weight", "model.layers.3.self_attn.k_proj.weight"]) {
      const s = streamed.get(name)!.stored;
      const p = plain.get(name)!.stored;
      expect(p.dtype).toBe("bf16");
      // (dtype first: a diff of the whole arrays would take minutes to print)
      expect(s.dtype).toBe("nf4");
      expect(s).toEqual({ dtype: "nf4", q: quantizeNF4(toF32(p), nf4.get(name)) });
    }
    // Not quantized: the embedding keeps bf16, the norms become float32.
    expect(streamed.get("model.embed_tokens.weight")!.stored).toEqual(
      plain.get("model.embed_tokens.weight")!.stored,
    );
    expect(streamed.get("model.norm.weight")!.stored.dtype).toBe("f32");
  });
});
