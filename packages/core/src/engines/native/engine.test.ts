import { existsSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { newToken } from "../../methods/testing.ts";
import { initBackend } from "../../model/backend.ts";
import { countParameters } from "../../model/config.ts";
import { randomModel } from "../../model/llama.ts";
import type { Engine } from "../engine.ts";
import { createTfjsEngine } from "../tfjs/engine.ts";
import { compare } from "./compare.testing.ts";
import { createNativeEngine } from "./engine.ts";
import { enginePlan, nativeSkip, packedBatch, smallConfig, tempDir } from "./testing.ts";

const suite = nativeSkip("native engine vs the tfjs engine");

describe.skipIf(suite.skip)(suite.title, () => {
  beforeAll(async () => {
    // randomModel (the folders written here) needs a tfjs backend.
    await initBackend();
  });

  it("full fine-tuning: losses, gradient norms and every gradient (AdamW's moments) agree, packed and padded", async () => {
    const got = await compare({ kind: "full" });
    expect(got.states[0]!.weights.length).toBe(2 + 2 * (2 + 7 + 3) + 1);
  });

  it("LoRA all-linear with rsLoRA (B starts at 0: the second step checks A's gradients)", async () => {
    await compare({ kind: "lora", rank: 4, alpha: 8, rslora: true, dropout: 0, targets: "all-linear" });
  });

  it("QLoRA: the NF4 base (double-quantized) dequantized per use gives the tfjs engine's gradients", async () => {
    await compare({
      kind: "qlora",
      rank: 4,
      alpha: 16,
      dropout: 0,
      targets: ["q_proj", "v_proj", "down_proj"],
    });
  });

  it("LoRA with dropout (the same seeded masks) and per-layer recomputation", async () => {
    await compare(
      { kind: "lora", rank: 8, alpha: 16, dropout: 0.1, targets: "all-linear" },
      { recompute: true },
    );
  });

  it("partial on a tied llama: the last layer and the tied embedding/head train", async () => {
    const cfg = smallConfig({ architecture: "llama", attentionBias: false, tieWordEmbeddings: true });
    const got = await compare({ kind: "partial", lastLayers: 1, lmHead: true }, { cfg });
    expect(got.states[0]!.weights.map((w) => w.name)).toContain("model.embed_tokens.weight");
  });

  it("a bf16 (sharded) and an f16 checkpoint: frozen weights stay 2-byte, gradients match tfjs loading the same folder", async () => {
    for (const dtype of ["BF16", "F16"] as const) {
      const cfg = smallConfig();
      const dir = tempDir(dtype);
      const m = randomModel(cfg, { seed: 9 });
      await m.save(dir, { dtype, maxShardBytes: 60_000 });
      m.dispose();
      if (dtype === "BF16") expect(existsSync(join(dir, "model.safetensors.index.json"))).toBe(true);
      await compare(
        { kind: "lora", rank: 4, alpha: 8, dropout: 0, targets: "all-linear" },
        { model: { dir } },
      );
      const plan = enginePlan(cfg, { kind: "lora", rank: 4, targets: "all-linear" });
      const engine = await createNativeEngine(plan);
      await engine.load({ plan, model: { dir } });
      const bytes = Number(/weights (\d+) B/.exec(engine.memory().detail ?? "")![1]);
      const twoByte = countParameters(cfg).total - 2 * cfg.numLayers * cfg.hiddenSize - cfg.hiddenSize;
      const biases = cfg.numLayers * (cfg.hiddenSize + 2 * cfg.numKvHeads * cfg.headDim);
      expect(bytes).toBe(2 * (twoByte - biases) + 4 * (biases + (2 * cfg.numLayers + 1) * cfg.hiddenSize));
      engine.dispose();
    }
  });

  it("QLoRA from a bf16 (sharded) checkpoint: quantized as it is read, gradients match tfjs loading the same folder", async () => {
    const dir = tempDir("qlora-bf16");
    const m = randomModel(smallConfig(), { seed: 9 });
    await m.save(dir, { dtype: "BF16", maxShardBytes: 60_000 });
    m.dispose();
    await compare(
      { kind: "qlora", rank: 4, alpha: 16, dropout: 0, targets: "all-linear" },
      { model: { dir } },
    );
  });

  it("greedy generation with the KV cache equals the tfjs engine's; stop ids; seeded sampling repeats", async () => {
    const cfg = smallConfig();
    const dir = tempDir("gen");
    const m = randomModel(cfg, { seed: 4, std: 0.3 });
    await m.save(dir);
    m.dispose();
    const plan = enginePlan(cfg, { kind: "lora", rank: 4, targets: "all-linear" });
    const tfe = await createTfjsEngine(plan);
    await tfe.load({ plan, model: { dir } });
    const want = await tfe.generate([1, 17, 42, 99], { maxNewTokens: 12 });
    tfe.dispose();
    const ne = await createNativeEngine(plan);
    await ne.load({ plan, model: { dir } });
    const got = await ne.generate([1, 17, 42, 99], { maxNewTokens: 12 });
    expect(got).toEqual(want);
    const stop = await ne.generate([1, 17, 42, 99], { maxNewTokens: 12, stopIds: [want.ids[3]!] });
    expect(stop.stopReason).toBe("stop_id");
    expect(stop.ids).toEqual(want.ids.slice(0, stop.ids.length));
    const s1 = await ne.generate([1, 17], { maxNewTokens: 6, temperature: 1, seed: 7 });
    expect(await ne.generate([1, 17], { maxNewTokens: 6, temperature: 1, seed: 7 })).toEqual(s1);
    ne.dispose();
  });

  it("checkpoint -> resume: a new engine given readState() continues exactly", async () => {
    const cfg = smallConfig();
    const plan = enginePlan(cfg, { kind: "lora", rank: 4, alpha: 8, dropout: 0.1, targets: "all-linear" });
    const batches = [packedBatch(1, cfg.vocabSize), packedBatch(2, cfg.vocabSize)];
    const step = async (e: Engine, seed: number) => {
      const r = await e.forwardBackward(batches[seed % 2]!, { seed });
      return e.applyStep({ learningRate: 0.5, clipNorm: 1, trainedTokens: r.trainedTokens });
    };
    const a = await createNativeEngine(plan);
    await a.load({ plan, model: { config: cfg, seed: 5 } });
    await step(a, 0);
    await step(a, 1);
    const saved = await a.readState();
    const b = await createNativeEngine(plan);
    await b.load({ plan, model: { config: cfg, seed: 5 } });
    await b.writeState(saved);
    expect(await step(b, 2)).toEqual(await step(a, 2));
    const [sa, sb] = [await a.readState(), await b.readState()];
    expect(sb.optimizer.step).toBe(3);
    expect(sb).toEqual(sa);
    a.dispose();
    b.dispose();
  });

  it("new tokens: the vocabulary grows (mean and seeded-noise rows) and only their rows train (frozen, untied head)", async () => {
    const cfg = smallConfig();
    const added = [newToken("<a>", 300), newToken("<b>", 301, "noise")];
    const got = await compare({ kind: "frozen", trainable: { newTokens: true } }, { added });
    expect(got.states[0]!.weights.map((w) => [w.name, w.shape])).toEqual([
      ["model.embed_tokens.trainable_tokens", [2, cfg.hiddenSize]],
      ["lm_head.trainable_tokens", [2, cfg.hiddenSize]],
    ]);
  });

  it("LoRA + trained new-token rows on a tied model (the rows take the head's gradient too)", async () => {
    const cfg = smallConfig({ tieWordEmbeddings: true });
    const added = [newToken("<a>", 300), newToken("<b>", 301, "noise")];
    await compare(
      { kind: "lora", rank: 4, alpha: 8, dropout: 0, targets: ["q_proj", "o_proj"] },
      { cfg, added },
    );
  });

  it("prefix (P-tuning v2), direct and through the reparameterization MLP; generation continues after the prefix", async () => {
    await compare({ kind: "prefix", virtualTokens: 3 });
    await compare({ kind: "prefix", virtualTokens: 2, reparameterize: { hiddenSize: 24 } });
    const cfg = smallConfig();
    const dir = tempDir("gen-prefix");
    const m = randomModel(cfg, { seed: 4, std: 0.3 });
    await m.save(dir);
    m.dispose();
    const plan = enginePlan(cfg, { kind: "prefix", virtualTokens: 3, reparameterize: { hiddenSize: 16 } });
    const ids: number[][] = [];
    for (const create of [createTfjsEngine, createNativeEngine]) {
      const e = await create(plan);
      await e.load({ plan, model: { dir } });
      ids.push((await e.generate([1, 17, 42, 99], { maxNewTokens: 10 })).ids);
      e.dispose();
    }
    expect(ids[1]).toEqual(ids[0]);
  });

  it("new-token rows over a bf16 table: the table stays 2-byte, gradients and greedy generation match tfjs", async () => {
    const cfg = smallConfig();
    const dir = tempDir("rows-bf16");
    const m = randomModel(cfg, { seed: 6, std: 0.3 });
    await m.save(dir, { dtype: "BF16" });
    m.dispose();
    const added = [newToken("<a>", 300), newToken("<b>", 301, "noise")];
    const method = { kind: "lora", rank: 4, alpha: 8, dropout: 0, targets: ["v_proj"] };
    await compare(method, { model: { dir }, added });
    const plan = enginePlan(cfg, method, { added });
    const out: number[][] = [];
    for (const create of [createTfjsEngine, createNativeEngine]) {
      const e = await create(plan);
      await e.load({ plan, model: { dir } });
      out.push((await e.generate([1, 300, 17, 301], { maxNewTokens: 8 })).ids);
      if (e.name === "native") {
        const bytes = Number(/weights (\d+) B/.exec(e.memory().detail ?? "")![1]);
        expect(bytes).toBeLessThan(2.2 * countParameters({ ...cfg, vocabSize: 302 }).total);
      }
      e.dispose();
    }
    expect(out[1]).toEqual(out[0]);
  });
});
