// Artefacts read back with an independent reader: LoRA/QLoRA/prefix PEFT folders and merged HF folders;
// base + adapter gives the trained model's logits, and the merged model gives the same.
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTokenizer, loadTokenizer, tinyByteLevelTokenizer } from "../data/tokenizer/index.ts";
import { applyAdapter } from "../methods/load.ts";
import { buildMethodRuntime, type MethodRuntimeWithParts } from "../methods/runtime.ts";
import { newToken, testPlan } from "../methods/testing.ts";
import { initBackend } from "../model/backend.ts";
import { loadModel, type Model, randomModel } from "../model/llama.ts";
import { writeSafetensors } from "../model/safetensors.ts";
import { tinyConfig } from "../model/tiny.ts";
import { lossAndGrads, sgdUpdate } from "../model/train-step.ts";

let dir: string;
let tokDir: string;
let V: number;
beforeAll(async () => {
  await initBackend();
  dir = await mkdtemp(join(tmpdir(), "sft-peft-"));
  const { tokenizerJson, config } = tinyByteLevelTokenizer();
  V = createTokenizer(tokenizerJson, config).vocabSize;
  tokDir = join(dir, "tok");
  const { mkdir } = await import("node:fs/promises");
  await mkdir(tokDir);
  await writeFile(join(tokDir, "tokenizer.json"), JSON.stringify(tokenizerJson));
  await writeFile(join(tokDir, "tokenizer_config.json"), JSON.stringify(config));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A minimal safetensors reader of our own: the header JSON and float32 data. */
function readSt(file: string): Map<string, { dtype: string; shape: number[]; data: Float32Array }> {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8")) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const out = new Map<string, { dtype: string; shape: number[]; data: Float32Array }>();
  for (const [name, t] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const [a, b] = t.data_offsets;
    const bytes = buf.subarray(8 + n + a, 8 + n + b);
    const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    out.set(name, { dtype: t.dtype, shape: t.shape, data });
  }
  return out;
}
const readJson = (file: string) => JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;

const added = () => [newToken("<a>", V), newToken("<b>", V + 1)];
const batchOf = (ids: number[]) => ({ batch: 2, seqLen: ids.length / 2, ids: Int32Array.from(ids) });

async function logitsOf(m: Model, ids: number[], rt?: MethodRuntimeWithParts | { hooks: object }) {
  const hooks =
    rt && "forward" in rt ? rt.forward(false, 0).hooks : (rt as { hooks?: object } | undefined)?.hooks;
  const t = m.logitsTensor(batchOf(ids), { hooks: hooks as never });
  const d = (await t.data()) as Float32Array;
  t.dispose();
  return d;
}
const maxDiff = (a: Float32Array, b: Float32Array) => {
  expect(a.length).toBe(b.length);
  return a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);
};

/** Base folder on disk, a model grown + trained a few steps with `method`, its artefacts saved. */
async function trainAndSave(
  arch: "llama" | "qwen2",
  method: object,
  save: "adapter" | "merged" | "both",
  name: string,
  withTokens = true,
) {
  const cfg = tinyConfig(arch, { vocabSize: V });
  const baseDir = join(dir, `${name}-base`);
  const seed = 21;
  const base = randomModel(cfg, { seed });
  await base.save(baseDir);
  base.dispose();
  const m = randomModel({ ...cfg }, { seed });
  const plan = testPlan(cfg, method, { added: withTokens ? added() : [] });
  const rt = buildMethodRuntime(m, plan, 5);
  const ids = withTokens
    ? [1, 40, V, 41, V + 1, 42, 7, 8, V, 9, 10, 11]
    : [1, 40, 5, 41, 6, 42, 7, 8, 9, 9, 10, 11];
  const vars = [...rt.trainable.values()];
  for (let s = 0; s < 3; s++) {
    const r = await lossAndGrads(m, { batch: batchOf(ids), labels: Int32Array.from(ids) }, vars, {
      hooks: rt.forward(true, s).hooks,
    });
    sgdUpdate(vars, r.grads, 0.05);
    for (const g of r.grads) g.dispose();
  }
  // Make B clearly non-zero so the adapter matters.
  const out = join(dir, name);
  const files = await rt.save({
    outDir: out,
    save,
    tokenizerDir: tokDir,
    chatTemplate: "{% for m in messages %}<|im_start|>{{ m.content }}<|im_end|>{% endfor %}",
    baseModel: { dir: baseDir },
  });
  const trained = await logitsOf(m, ids, rt);
  return { m, rt, files, out, baseDir, ids, trained, cfg };
}

describe("LoRA adapter (PEFT) and merged model", () => {
  for (const arch of ["llama", "qwen2"] as const) {
    it(`${arch}: names, shapes, config keys; base + adapter = trained = merged`, async () => {
      const { m, rt, files, out, baseDir, ids, trained, cfg } = await trainAndSave(
        arch,
        { kind: "lora", rank: 4, alpha: 16, dropout: 0.1, targets: ["q_proj", "v_proj", "down_proj"] },
        "both",
        `lora-${arch}`,
      );
      expect(files).toEqual(
        expect.arrayContaining([
          "adapter/adapter_config.json",
          "adapter/adapter_model.safetensors",
          "adapter/tokenizer.json",
          "model/model.safetensors",
          "model/config.json",
          "model/tokenizer_config.json",
        ]),
      );
      const conf = readJson(join(out, "adapter/adapter_config.json"));
      expect(conf).toMatchObject({
        peft_type: "LORA",
        task_type: "CAUSAL_LM",
        r: 4,
        lora_alpha: 16,
        lora_dropout: 0.1,
        target_modules: ["q_proj", "v_proj", "down_proj"],
        bias: "none",
        use_rslora: false,
        // The base folder relative to the adapter folder, not the training machine's absolute path.
        base_model_name_or_path: `../../lora-${arch}-base`,
        trainable_token_indices:
          arch === "llama" ? [V, V + 1] : { embed_tokens: [V, V + 1], lm_head: [V, V + 1] },
        // Tied rows: PEFT >= 0.15 (#2376); an untied lm_head target: >= 0.18 (#2863).
        peft_version: arch === "llama" ? "0.15.0" : "0.18.0",
      });
      expect(readFileSync(join(out, "adapter/README.md"), "utf8")).toContain(
        `${arch === "llama" ? "0.15.0" : "0.18.0"} or newer`,
      );
      const st = readSt(join(out, "adapter/adapter_model.safetensors"));
      const d = cfg.hiddenSize;
      const kv = cfg.numKvHeads * cfg.headDim;
      expect(st.get("base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight")?.shape).toEqual([4, d]);
      expect(st.get("base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight")?.shape).toEqual([
        cfg.numHeads * cfg.headDim,
        4,
      ]);
      expect(st.get("base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight")?.shape).toEqual([
        kv,
        4,
      ]);
      expect(st.get("base_model.model.model.layers.0.mlp.down_proj.lora_A.weight")?.shape).toEqual([
        4,
        cfg.intermediateSize,
      ]);
      expect(
        st.get("base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta")?.shape,
      ).toEqual([2, d]);
      expect(st.has("base_model.model.lm_head.token_adapter.trainable_tokens_delta")).toBe(arch === "qwen2");
      expect(st.size).toBe(2 * 3 * 2 + (arch === "qwen2" ? 2 : 1));
      expect([...st.values()].every((t) => t.dtype === "F32")).toBe(true);
      const lb = st.get("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight")!.data;
      expect(lb.some((x) => x !== 0)).toBe(true);

      // PEFT's own formula on the files alone: W' = W + (lora_alpha / r) * B @ A.
      const baseSt = readSt(join(baseDir, "model.safetensors"));
      const mergedSt = readSt(join(out, "model/model.safetensors"));
      for (const [l, path, outF, inF] of [
        [1, "self_attn.q_proj", cfg.numHeads * cfg.headDim, d],
        [0, "mlp.down_proj", d, cfg.intermediateSize],
      ] as const) {
        const W = baseSt.get(`model.layers.${l}.${path}.weight`)!.data;
        const A = st.get(`base_model.model.model.layers.${l}.${path}.lora_A.weight`)!.data;
        const B = st.get(`base_model.model.model.layers.${l}.${path}.lora_B.weight`)!.data;
        const M = mergedSt.get(`model.layers.${l}.${path}.weight`)!.data;
        let worst = 0;
        for (let o = 0; o < outF; o++)
          for (let i = 0; i < inF; i++) {
            let delta = 0;
            for (let k = 0; k < 4; k++) delta += B[o * 4 + k]! * A[k * inF + i]!;
            worst = Math.max(worst, Math.abs(W[o * inF + i]! + (16 / 4) * delta - M[o * inF + i]!));
          }
        expect(worst).toBeLessThan(1e-6);
      }
      // trainable_tokens_delta holds the rows' new values (PEFT index_copy's them in), not differences.
      const rows = st.get("base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta")!.data;
      expect(mergedSt.get("model.embed_tokens.weight")!.data.subarray(V * d, (V + 2) * d)).toEqual(rows);
      const mcfg = readJson(join(out, "model/config.json"));
      expect(mcfg.vocab_size).toBe(V + 2);
      const merged = readSt(join(out, "model/model.safetensors"));
      expect(merged.get("model.embed_tokens.weight")?.shape).toEqual([V + 2, d]);
      expect(merged.has("lm_head.weight")).toBe(arch === "qwen2");
      const tcfg = readJson(join(out, "model/tokenizer_config.json"));
      expect(tcfg.chat_template).toContain("<|im_start|>");
      const tok = await loadTokenizer(join(out, "adapter"));
      expect(tok.tokenToId("<b>")).toBe(V + 1);

      // base + adapter = the trained model; the merged model = base + adapter.
      const base = await loadModel(baseDir);
      const applied = await applyAdapter(base, join(out, "adapter"));
      expect(base.config.vocabSize).toBe(V + 2);
      const viaAdapter = await logitsOf(base, ids, applied);
      expect(maxDiff(viaAdapter, trained)).toBeLessThan(1e-4);
      const mergedModel = await loadModel(join(out, "model"));
      expect(maxDiff(await logitsOf(mergedModel, ids), viaAdapter)).toBeLessThan(1e-4);
      applied.dispose();
      base.dispose();
      mergedModel.dispose();
      rt.dispose();
      m.dispose();
    });
  }

  it("QLoRA merges the dequantized base in f32: merged = the trained quantized model", async () => {
    const { m, rt, out, ids, trained, baseDir } = await trainAndSave(
      "qwen2",
      { kind: "qlora", rank: 4, targets: "all-linear", trainNewTokens: false },
      "both",
      "qlora",
    );
    expect(readJson(join(out, "adapter/adapter_config.json")).target_modules).toEqual([
      "q_proj",
      "k_proj",
      "v_proj",
      "o_proj",
      "gate_proj",
      "up_proj",
      "down_proj",
    ]);
    // New rows did not train, but the adapter still carries their initial values for the base.
    expect(readJson(join(out, "adapter/adapter_config.json")).trainable_token_indices).toEqual({
      embed_tokens: [V, V + 1],
      lm_head: [V, V + 1],
    });
    const merged = await loadModel(join(out, "model"));
    expect(maxDiff(await logitsOf(merged, ids), trained)).toBeLessThan(1e-4);
    // On the float32 base the adapter is close, not equal (the base was trained through NF4).
    const base = await loadModel(baseDir);
    const applied = await applyAdapter(base, join(out, "adapter"));
    const viaAdapter = await logitsOf(
      base,
      ids.map((i) => Math.min(i, V - 1)),
      applied,
    );
    expect(viaAdapter.every(Number.isFinite)).toBe(true);
    applied.dispose();
    base.dispose();
    merged.dispose();
    rt.dispose();
    m.dispose();
  });
});

describe("DoRA adapter (PEFT use_dora) and merged model", () => {
  it("lora_magnitude_vector [out] under PEFT's names; merged W' = m·(W + s·B·A)/‖W + s·B·A‖ from the files alone; base + adapter = trained = merged", async () => {
    const { m, rt, out, baseDir, ids, trained, cfg } = await trainAndSave(
      "qwen2",
      {
        kind: "lora",
        rank: 4,
        alpha: 16,
        dropout: 0.1,
        targets: ["q_proj", "v_proj", "down_proj"],
        dora: true,
      },
      "both",
      "dora",
      false,
    );
    const conf = readJson(join(out, "adapter/adapter_config.json"));
    expect(conf).toMatchObject({ peft_type: "LORA", use_dora: true, r: 4, lora_alpha: 16 });
    const st = readSt(join(out, "adapter/adapter_model.safetensors"));
    const d = cfg.hiddenSize;
    const kv = cfg.numKvHeads * cfg.headDim;
    // PEFT saves `...<module>.lora_magnitude_vector` with no `.weight` (src/peft/tuners/lora/model.py at
    // v0.20.0-47-g5d602fdbf remaps the DoraLinearLayer's `weight` back to the pre-refactor key), one [out] per linear.
    const mag = (l: number, path: string) =>
      st.get(`base_model.model.model.layers.${l}.${path}.lora_magnitude_vector`);
    expect(mag(1, "self_attn.q_proj")?.shape).toEqual([cfg.numHeads * cfg.headDim]);
    expect(mag(0, "self_attn.v_proj")?.shape).toEqual([kv]);
    expect(mag(1, "mlp.down_proj")?.shape).toEqual([d]);
    expect(st.size).toBe(3 * 3 * cfg.numLayers);

    // W' from the adapter's and the base's files alone, in float64.
    const baseSt = readSt(join(baseDir, "model.safetensors"));
    const mergedSt = readSt(join(out, "model/model.safetensors"));
    let magnitudesMoved = false;
    for (const [l, path, outF, inF] of [
      [1, "self_attn.q_proj", cfg.numHeads * cfg.headDim, d],
      [0, "self_attn.v_proj", kv, d],
      [0, "mlp.down_proj", d, cfg.intermediateSize],
    ] as const) {
      const W = baseSt.get(`model.layers.${l}.${path}.weight`)!.data;
      const A = st.get(`base_model.model.model.layers.${l}.${path}.lora_A.weight`)!.data;
      const B = st.get(`base_model.model.model.layers.${l}.${path}.lora_B.weight`)!.data;
      const mv = mag(l, path)!.data;
      const M = mergedSt.get(`model.layers.${l}.${path}.weight`)!.data;
      let worst = 0;
      for (let o = 0; o < outF; o++) {
        const row = new Float64Array(inF);
        for (let i = 0; i < inF; i++) {
          let delta = 0;
          for (let k = 0; k < 4; k++) delta += B[o * 4 + k]! * A[k * inF + i]!;
          row[i] = W[o * inF + i]! + (16 / 4) * delta;
        }
        const norm = Math.sqrt(row.reduce((a, x) => a + x * x, 0));
        let w0 = 0;
        for (let i = 0; i < inF; i++) w0 += W[o * inF + i]! ** 2;
        if (Math.abs(mv[o]! - Math.sqrt(w0)) > 1e-4) magnitudesMoved = true;
        for (let i = 0; i < inF; i++)
          worst = Math.max(worst, Math.abs((mv[o]! * row[i]!) / norm - M[o * inF + i]!));
      }
      expect(worst).toBeLessThan(1e-5);
    }
    // The magnitudes trained away from ‖W‖ (their initial value): the check above is not the plain merge.
    expect(magnitudesMoved).toBe(true);

    const base = await loadModel(baseDir);
    const applied = await applyAdapter(base, join(out, "adapter"));
    const viaAdapter = await logitsOf(base, ids, applied);
    expect(maxDiff(viaAdapter, trained)).toBeLessThan(1e-4);
    const mergedModel = await loadModel(join(out, "model"));
    expect(maxDiff(await logitsOf(mergedModel, ids), viaAdapter)).toBeLessThan(1e-4);
    applied.dispose();
    base.dispose();
    mergedModel.dispose();
    rt.dispose();
    m.dispose();
  });

  it("QDoRA merges over the dequantized base: merged = the trained quantized model", async () => {
    const { m, rt, out, ids, trained } = await trainAndSave(
      "llama",
      { kind: "qlora", rank: 4, targets: "all-linear", dora: true },
      "both",
      "qdora",
      false,
    );
    expect(readJson(join(out, "adapter/adapter_config.json")).use_dora).toBe(true);
    const merged = await loadModel(join(out, "model"));
    expect(maxDiff(await logitsOf(merged, ids), trained)).toBeLessThan(1e-4);
    merged.dispose();
    rt.dispose();
    m.dispose();
  });
});

describe("modules to save (PEFT modules_to_save)", () => {
  it("whole embed_tokens, lm_head and norms under PEFT's names; base + adapter = trained = merged", async () => {
    const { m, rt, out, baseDir, ids, trained, cfg } = await trainAndSave(
      "qwen2",
      { kind: "lora", rank: 2, targets: ["q_proj"], modulesToSave: ["embed_tokens", "lm_head", "norms"] },
      "both",
      "mts",
      false,
    );
    const conf = readJson(join(out, "adapter/adapter_config.json"));
    // PEFT matches modules_to_save by suffix (src/peft/utils/other.py _set_trainable): `norm` is every *norm.
    expect([...(conf.modules_to_save as string[])].sort()).toEqual(["embed_tokens", "lm_head", "norm"]);
    const st = readSt(join(out, "adapter/adapter_model.safetensors"));
    const d = cfg.hiddenSize;
    // The wrapper's name plus the module's key, no adapter name (ModulesToSaveWrapper.adapter_state_dict).
    expect(st.get("base_model.model.model.embed_tokens.weight")?.shape).toEqual([V, d]);
    expect(st.get("base_model.model.lm_head.weight")?.shape).toEqual([V, d]);
    expect(st.get("base_model.model.model.norm.weight")?.shape).toEqual([d]);
    expect(st.get("base_model.model.model.layers.1.post_attention_layernorm.weight")?.shape).toEqual([d]);
    expect(st.size).toBe(2 * cfg.numLayers + 3 + 2 * cfg.numLayers);
    const merged = readSt(join(out, "model/model.safetensors"));
    const base = readSt(join(baseDir, "model.safetensors"));
    for (const n of [
      "model.embed_tokens.weight",
      "lm_head.weight",
      "model.layers.0.input_layernorm.weight",
    ]) {
      expect(st.get(`base_model.model.${n}`)!.data).toEqual(merged.get(n)!.data);
      expect(maxDiff(st.get(`base_model.model.${n}`)!.data, base.get(n)!.data)).toBeGreaterThan(0);
    }
    const baseModel = await loadModel(baseDir);
    const applied = await applyAdapter(baseModel, join(out, "adapter"));
    const viaAdapter = await logitsOf(baseModel, ids, applied);
    expect(maxDiff(viaAdapter, trained)).toBeLessThan(1e-4);
    const mergedModel = await loadModel(join(out, "model"));
    expect(maxDiff(await logitsOf(mergedModel, ids), viaAdapter)).toBeLessThan(1e-4);
    applied.dispose();
    baseModel.dispose();
    mergedModel.dispose();
    rt.dispose();
    m.dispose();
  });
});

describe("LoRA without new tokens", () => {
  it("leaves out trainable_token_indices and peft_version (PEFT < 0.14 raises on unknown keys): PEFT 0.9 loads it", async () => {
    const { m, rt, out } = await trainAndSave(
      "qwen2",
      { kind: "lora", rank: 2, targets: ["q_proj"] },
      "adapter",
      "lora-plain",
      false,
    );
    const conf = readJson(join(out, "adapter/adapter_config.json"));
    expect(conf).not.toHaveProperty("trainable_token_indices");
    expect(conf).not.toHaveProperty("peft_version");
    const readme = readFileSync(join(out, "adapter/README.md"), "utf8");
    expect(readme).toContain("0.9.0 or newer");
    expect(readme).toContain("../../lora-plain-base");
    // The base has no generation_config.json: the adapter gets what transformers derives from config.json.
    expect(readJson(join(out, "adapter/generation_config.json"))).toEqual({
      bos_token_id: m.config.bosTokenId,
      eos_token_id: m.config.eosTokenId,
    });
    rt.dispose();
    m.dispose();
  });
});

describe("prefix adapter (PEFT PREFIX_TUNING)", () => {
  for (const reparameterize of [false, { hiddenSize: 8 }] as const) {
    it(`one prompt_embeddings tensor [P, L * 2 * head_dim * kv_heads] (${reparameterize ? "MLP" : "direct"}); base + adapter = trained`, async () => {
      const { m, rt, files, out, baseDir, trained, cfg } = await trainAndSave(
        "llama",
        { kind: "prefix", virtualTokens: 3, reparameterize },
        "merged",
        `prefix-${reparameterize ? "mlp" : "direct"}`,
      );
      expect(files).toContain("adapter/adapter_model.safetensors");
      expect(files.some((f) => f.startsWith("model/"))).toBe(false);
      const td = cfg.headDim * cfg.numKvHeads;
      const conf = readJson(join(out, "adapter/adapter_config.json"));
      expect(conf).toMatchObject({
        peft_type: "PREFIX_TUNING",
        task_type: "CAUSAL_LM",
        num_virtual_tokens: 3,
        num_layers: cfg.numLayers,
        token_dim: td,
        num_attention_heads: cfg.numKvHeads,
        base_model_name_or_path: `../../prefix-${reparameterize ? "mlp" : "direct"}-base`,
      });
      const st = readSt(join(out, "adapter/adapter_model.safetensors"));
      expect([...st.keys()]).toEqual(["prompt_embeddings"]);
      expect(st.get("prompt_embeddings")!.shape).toEqual([3, cfg.numLayers * 2 * td]);
      // No added tokens reach the prefix model's ids here: compare on base ids only.
      const ids = [1, 40, 5, 41, 6, 42, 7, 8, 9, 9, 10, 11];
      const base = await loadModel(baseDir);
      const applied = await applyAdapter(base, join(out, "adapter"));
      const expected = await logitsOf(m, ids, rt);
      const got = await logitsOf(base, ids, applied);
      // The grown model has 2 more columns (new tokens): compare the base vocabulary's columns.
      const Vm = m.config.vocabSize;
      const cut = (a: Float32Array, w: number) =>
        Float32Array.from({ length: 12 * V }, (_, k) => a[Math.floor(k / V) * w + (k % V)]!);
      expect(maxDiff(cut(got, V), cut(expected, Vm))).toBeLessThan(1e-4);
      expect(trained.length).toBe(12 * Vm);
      applied.dispose();
      base.dispose();
      rt.dispose();
      m.dispose();
    });
  }
});

describe("full / frozen write the HF model folder", () => {
  it("frozen: new token rows trained, merged folder loads and gives the trained logits", async () => {
    const { m, rt, files, out, ids, trained } = await trainAndSave(
      "qwen2",
      { kind: "frozen", trainable: { norms: true } },
      "adapter",
      "frozen",
    );
    expect(files.some((f) => f.startsWith("adapter/"))).toBe(false);
    const merged = await loadModel(join(out, "model"));
    expect(maxDiff(await logitsOf(merged, ids), trained)).toBeLessThan(1e-5);
    merged.dispose();
    rt.dispose();
    m.dispose();
  });
});

describe("bad adapters give a message naming the file and the tensor", () => {
  it("missing tensor, wrong shape, unknown tensor, bad config", async () => {
    const cfg = tinyConfig("llama", { vocabSize: V });
    const m = randomModel(cfg, { seed: 1 });
    const a = join(dir, "bad");
    const { mkdir } = await import("node:fs/promises");
    await mkdir(a, { recursive: true });
    await writeFile(
      join(a, "adapter_config.json"),
      JSON.stringify({ peft_type: "LORA", r: 2, lora_alpha: 4 }),
    );
    const qA = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
    const qB = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight";
    await writeSafetensors(join(a, "adapter_model.safetensors"), [
      { name: qA, shape: [2, 32], data: new Float32Array(64) },
    ]);
    await expect(applyAdapter(m, a)).rejects.toThrow(
      new RegExp(`adapter_model.safetensors: tensor "${qB.replace(/\./g, "\\.")}" \\[32, 2\\] is missing`),
    );
    await writeSafetensors(join(a, "adapter_model.safetensors"), [
      { name: qA, shape: [2, 31], data: new Float32Array(62) },
      { name: qB, shape: [32, 2], data: new Float32Array(64) },
    ]);
    await expect(applyAdapter(m, a)).rejects.toThrow(
      /tensor ".*q_proj\.lora_A\.weight" has shape \[2, 31\], expected \[2, 32\]/,
    );
    await writeSafetensors(join(a, "adapter_model.safetensors"), [
      {
        name: "base_model.model.model.layers.9.self_attn.q_proj.lora_A.weight",
        shape: [2, 32],
        data: new Float32Array(64),
      },
    ]);
    await expect(applyAdapter(m, a)).rejects.toThrow(
      /layers\.9.* does not belong to this model's LoRA layers/,
    );
    await writeFile(join(a, "adapter_config.json"), "{");
    await expect(applyAdapter(m, a)).rejects.toThrow(/adapter_config\.json: invalid JSON/);
    await writeFile(
      join(a, "adapter_config.json"),
      JSON.stringify({ peft_type: "PREFIX_TUNING", num_virtual_tokens: 2, num_layers: 3, token_dim: 16 }),
    );
    await expect(applyAdapter(m, a)).rejects.toThrow(
      /num_layers 3 and token_dim 16 do not fit the model \(2 layers/,
    );
    await writeFile(
      join(a, "adapter_config.json"),
      JSON.stringify({ peft_type: "PREFIX_TUNING", num_virtual_tokens: 2, num_layers: 2, token_dim: 16 }),
    );
    await expect(applyAdapter(m, a)).rejects.toThrow(/tensor "prompt_embeddings" \[2, 64\] is missing/);
    await writeFile(join(a, "adapter_config.json"), JSON.stringify({ peft_type: "IA3" }));
    await expect(applyAdapter(m, a)).rejects.toThrow(/peft_type "IA3" is not supported/);
    m.dispose();
  });
});
