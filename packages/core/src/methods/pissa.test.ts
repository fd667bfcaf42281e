// PiSSA initialisation (method.init) on the tfjs engine: the model starts equal to the base, and the saved
// adapter, converted as PEFT converts PiSSA to LoRA, reproduces the trained model on the ORIGINAL base.
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../model/backend.ts";
import { loadModel, type Model, randomModel } from "../model/llama.ts";
import { SafetensorsFile } from "../model/safetensors.ts";
import { tinyConfig } from "../model/tiny.ts";
import { lossAndGrads, sgdUpdate } from "../model/train-step.ts";
import { applyAdapter } from "./load.ts";
import { buildMethodRuntime, type MethodRuntimeWithParts } from "./runtime.ts";
import { testPlan } from "./testing.ts";

let dir: string;
beforeAll(async () => {
  await initBackend();
  dir = await mkdtemp(join(tmpdir(), "sft-pissa-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ids = [1, 5, 11, 7, 12, 9, 3, 4, 8, 11, 10, 2];
const batch = { batch: 2, seqLen: 6, ids: Int32Array.from(ids) };

async function logits(m: Model, hooks?: object): Promise<Float32Array> {
  const t = m.logitsTensor(batch, { hooks: hooks as never });
  const d = (await t.data()) as Float32Array;
  t.dispose();
  return d;
}
const maxDiff = (a: Float32Array, b: Float32Array) =>
  a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);
const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, x) => Math.max(m, Math.abs(x)), 0);

async function trainSteps(m: Model, rt: MethodRuntimeWithParts, n: number): Promise<void> {
  const vars = [...rt.trainable.values()];
  for (let s = 0; s < n; s++) {
    const r = await lossAndGrads(m, { batch, labels: Int32Array.from(ids) }, vars, {
      hooks: rt.forward(true, s).hooks,
    });
    sgdUpdate(vars, r.grads, 0.05);
    for (const g of r.grads) g.dispose();
  }
}

const cfg = tinyConfig("qwen2");
const downProj = "model.layers.0.mlp.down_proj.weight";

describe("PiSSA initialisation", () => {
  for (const init of ["pissa", "pissa_niter_4"] as const) {
    it(`${init}: logits equal the base model's; A and B are not LoRA's (B ≠ 0); the base holds the residual`, async () => {
      const m = randomModel(cfg, { seed: 3 });
      const base = await logits(m);
      const w0 = (await m.w(downProj).data()).slice() as Float32Array;
      const rt = buildMethodRuntime(
        m,
        testPlan(cfg, { kind: "lora", rank: 4, alpha: 8, targets: "all-linear", init, dropout: 0 }),
        1,
      );
      expect(maxDiff(await logits(m, rt.forward(false, 0).hooks), base)).toBeLessThan(1e-4);
      const pair = rt.parts.lora!.pairs.find((p) => p.layer === 0 && p.module.name === "down_proj")!;
      expect(maxAbs(await pair.b.data())).toBeGreaterThan(1e-2);
      expect(maxDiff((await m.w(downProj).data()) as Float32Array, w0)).toBeGreaterThan(1e-2);
      // The plan's trainable tensors are LoRA's.
      expect([...rt.trainable.keys()].every((n) => /\.lora_(A|B)$/.test(n))).toBe(true);
      rt.dispose();
      m.dispose();
    });
  }

  for (const rslora of [false, true]) {
    it(`the PEFT adapter (rsLoRA ${rslora}) applied to the ORIGINAL base gives the trained model: rank 2r, [A; A0], [B | -B0]`, async () => {
      const name = `rs-${rslora}`;
      const baseDir = join(dir, `${name}-base`);
      const original = randomModel(cfg, { seed: 4 });
      await original.save(baseDir);
      original.dispose();
      const m = randomModel(cfg, { seed: 4 });
      const method = {
        kind: "lora",
        rank: 3,
        alpha: 6,
        rslora,
        targets: ["q_proj", "v_proj", "down_proj"],
        init: "pissa_niter_2",
        dropout: 0,
      };
      const rt = buildMethodRuntime(m, testPlan(cfg, method), 2);
      await trainSteps(m, rt, 3);
      const trained = await logits(m, rt.forward(false, 0).hooks);
      const out = join(dir, name);
      await rt.save({
        outDir: out,
        save: "both",
        tokenizerDir: null,
        chatTemplate: null,
        baseModel: { dir: baseDir },
      });
      const conf = JSON.parse(readFileSync(join(out, "adapter/adapter_config.json"), "utf8"));
      // PeftModel.save_pretrained(path_initial_model_for_weight_conversion=...) (src/peft/peft_model.py).
      expect(conf).toMatchObject({ r: 6, lora_alpha: rslora ? 6 * Math.SQRT2 : 12, init_lora_weights: true });
      const readme = readFileSync(join(out, "adapter/README.md"), "utf8");
      expect(readme).toContain('PiSSA (`init_lora_weights="pissa_niter_2"`) at rank 3');

      // From the files alone: base W + (alpha'/r')·B'·A' (rsLoRA: alpha'/sqrt(r')) = the merged model's weight.
      const adapter = await SafetensorsFile.open(join(out, "adapter/adapter_model.safetensors"));
      const baseFile = await SafetensorsFile.open(join(baseDir, "model.safetensors"));
      const merged = await SafetensorsFile.open(join(out, "model/model.safetensors"));
      const [outF, inF, r2] = [cfg.hiddenSize, cfg.intermediateSize, 6];
      const a = await adapter.readF32("base_model.model.model.layers.0.mlp.down_proj.lora_A.weight", [
        r2,
        inF,
      ]);
      const b = await adapter.readF32("base_model.model.model.layers.0.mlp.down_proj.lora_B.weight", [
        outF,
        r2,
      ]);
      const w = await baseFile.readF32(downProj, [outF, inF]);
      const want = await merged.readF32(downProj, [outF, inF]);
      const scale = rslora ? conf.lora_alpha / Math.sqrt(conf.r) : conf.lora_alpha / conf.r;
      const fromFiles = new Float32Array(outF * inF);
      for (let o = 0; o < outF; o++)
        for (let i = 0; i < inF; i++) {
          let ba = 0;
          for (let j = 0; j < r2; j++) ba += b[o * r2 + j]! * a[j * inF + i]!;
          fromFiles[o * inF + i] = w[o * inF + i]! + scale * ba;
        }
      expect(maxDiff(fromFiles, want)).toBeLessThan(1e-5);
      // The adapter trained away from its start (the check is not base = base).
      expect(maxDiff(want, w)).toBeGreaterThan(1e-3);
      for (const f of [adapter, baseFile, merged]) await f.close();

      // The whole model: original base + adapter = merged model = the trained model.
      const onBase = await loadModel(baseDir);
      const applied = await applyAdapter(onBase, join(out, "adapter"));
      expect(maxDiff(await logits(onBase, applied.hooks), trained)).toBeLessThan(1e-4);
      const mergedModel = await loadModel(join(out, "model"));
      expect(maxDiff(await logits(mergedModel), trained)).toBeLessThan(1e-4);
      expect(maxDiff(await logits(onBase), trained)).toBeGreaterThan(1e-3);
      for (const x of [applied, onBase, mergedModel]) x.dispose();
      rt.dispose();
      m.dispose();
    });
  }
});
