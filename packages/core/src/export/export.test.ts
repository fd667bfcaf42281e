// Golden exports for every method and both targets, and a structural check: every key written exists in the
// targeted schema version's field list (axolotl-fields.json, trl-fields.json).
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatPath } from "../recipe/diagnostics.ts";
import axolotlFields from "./axolotl-fields.json" with { type: "json" };
import { exportRecipe } from "./export.ts";
import { normalise, type Overrides, recipeFor, repo, writeData } from "./testing.ts";
import trlFields from "./trl-fields.json" with { type: "json" };
import type { ExportTarget } from "./types.ts";
import { parseYaml, type YamlValue } from "./yaml.ts";

const methods: Record<string, Overrides> = {
  full: {
    method: { kind: "full" },
    train: { steps: 20, lossOn: "last", eos: "last" },
    scale: { nodes: 2, gpusPerNode: 4, strategy: "zero3", cpuOffload: true },
  },
  partial: {
    method: { kind: "partial", lastLayers: 2, modules: ["mlp\\.down_proj"], lmHead: true },
    train: { minLearningRateRatio: 0.1, gradientCheckpointing: true },
    scale: { strategy: "fsdp", gpusPerNode: 8, precision: "bf16" },
  },
  frozen: { method: { kind: "frozen" }, scale: { strategy: "zero1", precision: "fp16" } },
  lora: {
    method: { kind: "lora", rank: 4, alpha: 8, targets: ["q_proj", "v_proj"], rslora: true },
    // No EOS override: Axolotl then trains exactly the new rows (peft_trainable_token_indices).
    tokens: { add: ["<|user|>", "<|assistant|>", { content: "<|end|>", init: "noise" }] },
    train: { packing: true, epochs: 3, warmupSteps: 2 },
  },
  qlora: {
    method: { kind: "qlora", rank: 8, targets: "all-linear", quantization: { doubleQuant: true } },
    train: { schedule: "linear", checkpointEvery: 5, eval: { every: 4 } },
    scale: { strategy: "fsdp", cpuOffload: true, activationCheckpointing: true },
  },
  prefix: { method: { kind: "prefix", virtualTokens: 8, reparameterize: { hiddenSize: 32 } } },
};

const configFiles: Record<ExportTarget, string[]> = {
  axolotl: ["axolotl.yaml", "deepspeed.json", "launch.sh"],
  trl: ["sft.yaml", "model.yaml", "accelerate.yaml", "deepspeed.json", "launch.sh"],
};

let data: ReturnType<typeof writeData>;
beforeAll(() => {
  data = writeData();
});
afterAll(() => rmSync(data.dir, { recursive: true, force: true }));

const read = (out: string, f: string) => readFileSync(join(out, f), "utf8");
const asMap = (v: YamlValue | undefined): Record<string, YamlValue> =>
  v && typeof v === "object" && !Array.isArray(v) ? v : {};
const keysOf = (v: YamlValue | undefined) => Object.keys(asMap(v));

function unknownKeys(keys: string[], allowed: Iterable<string>, where: string): string[] {
  const set = new Set(allowed);
  return keys.filter((k) => !set.has(k)).map((k) => `${where}.${k}`);
}

function axolotlUnknown(out: string): string[] {
  const cfg = asMap(parseYaml(read(out, "axolotl.yaml")));
  const g = axolotlFields.groups;
  const top = axolotlFields.top.flatMap((name) => g[name as keyof typeof g].fields);
  const bad = unknownKeys(Object.keys(cfg), top, "axolotl.yaml");
  for (const list of ["datasets", "test_datasets"]) {
    const entries = (cfg[list] ?? []) as YamlValue[];
    entries.forEach((d, i) => {
      bad.push(...unknownKeys(keysOf(d), g.SFTDataset.fields, `${list}[${i}]`));
    });
  }
  bad.push(...unknownKeys(keysOf(cfg.special_tokens), g.SpecialTokensConfig.fields, "special_tokens"));
  bad.push(...unknownKeys(keysOf(cfg.fsdp_config), g.FSDPConfig.fields, "fsdp_config"));
  const deprecated = new Set(axolotlFields.deprecated.fields);
  bad.push(
    ...Object.keys(cfg)
      .filter((k) => deprecated.has(k))
      .map((k) => `axolotl.yaml.${k} (deprecated)`),
  );
  return bad;
}

function trlUnknown(out: string): string[] {
  const g = trlFields.groups;
  const sftKeys = trlFields.sftConfigGroups.flatMap((name) => g[name as keyof typeof g].fields);
  const bad = unknownKeys(keysOf(parseYaml(read(out, "sft.yaml"))), sftKeys, "sft.yaml");
  const acc = asMap(parseYaml(read(out, "accelerate.yaml")));
  bad.push(...unknownKeys(Object.keys(acc), g.AccelerateConfig.fields, "accelerate.yaml"));
  bad.push(...unknownKeys(keysOf(acc.deepspeed_config), g.AccelerateDeepSpeed.fields, "deepspeed_config"));
  bad.push(...unknownKeys(keysOf(acc.fsdp_config), g.AccelerateFsdp.fields, "fsdp_config"));
  const spec = asMap(parseYaml(read(out, "model.yaml")));
  for (const part of ["peft", "quantization"]) {
    const p = asMap(spec[part]);
    if (!p.class) continue;
    const group = g[p.class as keyof typeof g];
    expect(group, `${part}.class ${String(p.class)}`).toBeDefined();
    bad.push(...unknownKeys(keysOf(p.kwargs), group.fields, `${part}.kwargs`));
  }
  return bad;
}

// Methods a target has no equivalent for: the export stops with sft/export-unsupported.
const refusedBy: Record<"axolotl" | "trl", string[]> = { axolotl: ["prefix"], trl: [] };

describe.each(["axolotl", "trl"] as const)("export --target %s", (target) => {
  it.each(Object.keys(methods))(
    "%s: golden files, and every key is in the schema's field list",
    async (kind) => {
      const out = join(data.dir, `${target}-${kind}`);
      const r = await exportRecipe(recipeFor(data, methods[kind]!), { target, out });
      const messages = r.diagnostics.map(
        (d) => `${d.severity} ${d.code} ${formatPath(d.path)}: ${d.message}`,
      );
      if (refusedBy[target].includes(kind)) {
        expect(r.ok).toBe(false);
        expect(r.files).toEqual([]);
        expect(messages).toContain(
          "error sft/export-unsupported method.kind: Axolotl has no prefix tuning (P-tuning v2)",
        );
        return;
      }
      expect(r.ok, messages.join("\n")).toBe(true);
      const golden = [`diagnostics:\n${messages.join("\n")}\n`];
      for (const f of configFiles[target])
        if (r.files.includes(f)) golden.push(`==> ${f} <==\n${read(out, f)}`);
      await expect(normalise(golden.join("\n"), data.dir, out)).toMatchFileSnapshot(
        `__golden__/${target}-${kind}.txt`,
      );
      expect(target === "axolotl" ? axolotlUnknown(out) : trlUnknown(out)).toEqual([]);
    },
  );
});

describe("export diagnostics", () => {
  it("locates what a target cannot express in the recipe file, and writes nothing", async () => {
    const file = join(data.dir, "prefix-recipe.ts");
    // An ES module, as recipes in a package are.
    writeFileSync(join(data.dir, "package.json"), '{ "type": "module" }\n');
    writeFileSync(
      file,
      [
        `import { defineRecipe } from ${JSON.stringify(join(repo, "packages/core/src/index.ts"))};`,
        "",
        "export default defineRecipe({",
        `  model: { path: ${JSON.stringify(join(repo, "examples/models/stories260K"))} },`,
        `  template: "chatml",`,
        `  data: { sources: { chat: { path: ${JSON.stringify(data.chat)}, format: "messages" } } },`,
        `  method: { kind: "prefix", virtualTokens: 4 },`,
        `  train: { maxLength: 64, eos: "none" },`,
        "  acknowledge: ['sft/eos-not-trained'],",
        "});",
        "",
      ].join("\n"),
    );
    const out = join(data.dir, "nothing");
    const r = await exportRecipe(file, { target: "axolotl", out });
    expect(r.ok).toBe(false);
    const found = r.diagnostics
      .filter((d) => d.code === "sft/export-unsupported")
      .map((d) => [formatPath(d.path), d.location?.line, d.location?.column]);
    expect(found).toEqual([
      ["method.kind", 7, 19],
      ["train.eos", 8, 32],
    ]);
    expect(() => readFileSync(join(out, "axolotl.yaml"))).toThrow();
  });

  it("reports an output folder it cannot write as a diagnostic, not a throw", async () => {
    const blocker = join(data.dir, "a-file");
    writeFileSync(blocker, "");
    const r = await exportRecipe(recipeFor(data, {}), { target: "trl", out: join(blocker, "out") });
    expect(r.ok).toBe(false);
    expect(r.diagnostics.at(-1)?.code).toBe("sft/export-write");
    expect(r.diagnostics.at(-1)?.message).toContain(join(blocker, "out"));
  });

  it("an export that fails midway leaves no export.json: only a complete export folder carries one", async () => {
    const out = join(data.dir, "interrupted");
    expect((await exportRecipe(recipeFor(data, {}), { target: "trl", out })).ok).toBe(true);
    expect(existsSync(join(out, "export.json"))).toBe(true);
    process.env.SFTKIT_FAULT_WRITE = "ENOSPC@launch.sh";
    try {
      const r = await exportRecipe(recipeFor(data, {}), { target: "trl", out });
      expect(r.ok).toBe(false);
      expect(r.diagnostics.at(-1)?.code).toBe("sft/export-write");
    } finally {
      delete process.env.SFTKIT_FAULT_WRITE;
    }
    expect(existsSync(join(out, "export.json"))).toBe(false);
  });

  it("rejects an unknown target with a message", async () => {
    const r = await exportRecipe(recipeFor(data, {}), { target: "megatron" as ExportTarget, out: data.dir });
    expect(r.ok).toBe(false);
    expect(r.diagnostics[0]?.message).toMatch(/unknown export target `megatron`/);
  });
});

describe("current spellings of the engines' keys", () => {
  let n = 0;
  const exportYaml = async (target: ExportTarget, over: Overrides, file: string) => {
    const out = join(data.dir, `spelling-${target}-${n++}`);
    const r = await exportRecipe(recipeFor(data, over), { target, out });
    expect(r.ok, r.diagnostics.map((d) => d.message).join("\n")).toBe(true);
    return asMap(parseYaml(read(out, file)));
  };

  it("Axolotl FSDP: fsdp_version 2 and unprefixed fsdp_config keys (docs/multi-gpu.qmd), no `fsdp:` list", async () => {
    const cfg = await exportYaml("axolotl", methods.qlora!, "axolotl.yaml");
    expect(cfg.fsdp).toBeUndefined();
    expect(cfg.fsdp_version).toBe(2);
    const keys = keysOf(cfg.fsdp_config);
    expect(keys.filter((k) => k.startsWith("fsdp_"))).toEqual([]);
    expect(asMap(cfg.fsdp_config)).toMatchObject({
      offload_params: true,
      activation_checkpointing: true,
      transformer_layer_cls_to_wrap: "LlamaDecoderLayer",
    });
  });

  it("Axolotl packing: attn_implementation, not the deprecated flash_attention flag", async () => {
    const cfg = await exportYaml("axolotl", methods.lora!, "axolotl.yaml");
    expect(cfg.flash_attention).toBeUndefined();
    expect(cfg.attn_implementation).toBe("flash_attention_2");
  });

  it("Axolotl QLoRA + fp16 + ZeRO-3: the 4-bit weights are stored in fp16 (Axolotl's default is bf16)", async () => {
    const over: Overrides = {
      method: { kind: "qlora", targets: "all-linear" },
      scale: { strategy: "zero3", precision: "fp16" },
    };
    const cfg = await exportYaml("axolotl", over, "axolotl.yaml");
    expect(asMap(cfg.bnb_config_kwargs).bnb_4bit_quant_storage).toBe("float16");
  });

  it("DoRA (and QDoRA): Axolotl peft_use_dora, TRL's LoraConfig use_dora", async () => {
    for (const kind of ["lora", "qlora"] as const) {
      const over: Overrides = { method: { kind, targets: "all-linear", dora: true } };
      expect((await exportYaml("axolotl", over, "axolotl.yaml")).peft_use_dora).toBe(true);
      const model = await exportYaml("trl", over, "model.yaml");
      expect(asMap(asMap(asMap(model.peft).kwargs)).use_dora).toBe(true);
    }
    // Plain LoRA writes neither.
    expect((await exportYaml("axolotl", methods.lora!, "axolotl.yaml")).peft_use_dora).toBeUndefined();
  });

  it("PiSSA: Axolotl peft_init_lora_weights, TRL's LoraConfig init_lora_weights", async () => {
    const over: Overrides = { method: { kind: "lora", targets: "all-linear", init: "pissa_niter_4" } };
    expect((await exportYaml("axolotl", over, "axolotl.yaml")).peft_init_lora_weights).toBe("pissa_niter_4");
    const model = await exportYaml("trl", over, "model.yaml");
    expect(asMap(asMap(asMap(model.peft).kwargs)).init_lora_weights).toBe("pissa_niter_4");
    expect(
      (await exportYaml("axolotl", methods.lora!, "axolotl.yaml")).peft_init_lora_weights,
    ).toBeUndefined();
    // Their trainers save the adapter unconverted (for the residual base): said at method.init.
    const r = await exportRecipe(recipeFor(data, over), {
      target: "axolotl",
      out: join(data.dir, "pissa-axolotl"),
    });
    const notes = r.diagnostics
      .filter((d) => d.code === "sft/export-approximate")
      .map((d) => formatPath(d.path));
    expect(notes).toContain("method.init");
  });

  it("LoRA+: Axolotl loraplus_lr_ratio; TRL has no such setting: a located sft/export-approximate warning", async () => {
    const over: Overrides = { method: { kind: "lora", targets: "all-linear", loraPlusRatio: 16 } };
    expect((await exportYaml("axolotl", over, "axolotl.yaml")).loraplus_lr_ratio).toBe(16);
    const file = join(data.dir, "loraplus-recipe.ts");
    writeFileSync(join(data.dir, "package.json"), '{ "type": "module" }\n');
    writeFileSync(
      file,
      [
        `import { defineRecipe } from ${JSON.stringify(join(repo, "packages/core/src/index.ts"))};`,
        "export default defineRecipe({",
        `  model: { path: ${JSON.stringify(join(repo, "examples/models/stories260K"))} },`,
        `  template: "chatml",`,
        `  data: { sources: { chat: { path: ${JSON.stringify(data.chat)}, format: "messages" } } },`,
        `  method: { kind: "lora", loraPlusRatio: 16 },`,
        `  train: { maxLength: 64, eos: "none" },`,
        "  acknowledge: ['sft/eos-not-trained'],",
        "});",
        "",
      ].join("\n"),
    );
    const r = await exportRecipe(file, { target: "trl", out: join(data.dir, "loraplus-trl") });
    expect(r.ok, r.diagnostics.map((d) => `${d.code} ${d.message}`).join("\n")).toBe(true);
    const found = r.diagnostics
      .filter((d) => d.code === "sft/export-approximate")
      .map((d) => [formatPath(d.path), d.location?.line, d.location?.column, d.message]);
    expect(found).toEqual([
      [
        "method.loraPlusRatio",
        6,
        42,
        "TRL's SFTConfig has no LoRA+ setting: lora_B trains at the base learning rate",
      ],
    ]);
  });

  it("NEFTune: Axolotl's and TRL's neftune_noise_alpha", async () => {
    const over: Overrides = { method: { kind: "lora" }, train: { neftuneAlpha: 5 } };
    expect((await exportYaml("axolotl", over, "axolotl.yaml")).neftune_noise_alpha).toBe(5);
    expect((await exportYaml("trl", over, "sft.yaml")).neftune_noise_alpha).toBe(5);
    expect((await exportYaml("trl", methods.lora!, "sft.yaml")).neftune_noise_alpha).toBeUndefined();
  });

  it("modules to save: Axolotl lora_modules_to_save, TRL's LoraConfig modules_to_save", async () => {
    const over: Overrides = { method: { kind: "lora", modulesToSave: ["embed_tokens", "norms"] } };
    // (The test recipe's new end token adds lm_head, which Axolotl requires then.)
    expect((await exportYaml("axolotl", over, "axolotl.yaml")).lora_modules_to_save).toEqual(
      expect.arrayContaining(["embed_tokens", "norm"]),
    );
    const model = await exportYaml("trl", over, "model.yaml");
    expect(asMap(asMap(model.peft).kwargs).modules_to_save).toEqual(["embed_tokens", "norm"]);
  });

  it("TRL QLoRA + ZeRO-3: no use_reentrant: false, which TRL overrides with a warning for PEFT models", async () => {
    const over: Overrides = {
      method: { kind: "qlora", targets: "all-linear" },
      train: { gradientCheckpointing: true },
      scale: { strategy: "zero3" },
    };
    const sft = await exportYaml("trl", over, "sft.yaml");
    expect(sft.gradient_checkpointing).toBe(true);
    expect(asMap(sft.gradient_checkpointing_kwargs).use_reentrant).not.toBe(false);
  });
});
