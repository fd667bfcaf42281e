// `sft generate --adapter` on the real stories260K: base + saved adapter decodes what the trained model
// decodes, and the merged folder decodes the same.
import { readFileSync } from "node:fs";
import { cp, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, isAbsolute, join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compile } from "../../compile/compile.ts";
import { loadTokenizer } from "../../data/tokenizer/index.ts";
import { generate } from "../../engines/tfjs/generate.ts";
import { baseModelOf } from "../../export/base-model.ts";
import { buildMethod, growVocabulary } from "../../methods/index.ts";
import { initBackend } from "../../model/backend.ts";
import { loadModel } from "../../model/llama.ts";
import { lossAndGrads, sgdUpdate } from "../../model/train-step.ts";
import type { RecipeInput } from "../../recipe/schema/recipe.ts";
import { withHubCache } from "../../testing/hf-standins.ts";
import { runGenerate } from "./generate.ts";

const readJson = (file: string) => JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;

/** Runs `fn` from another working directory (the adapter must not depend on where it is read from). */
async function elsewhere<T>(fn: () => Promise<T>): Promise<T> {
  const cwd = process.cwd();
  process.chdir(tmpdir());
  try {
    return await fn();
  } finally {
    process.chdir(cwd);
  }
}

/** A Hugging Face cache holding stories260K as `karpathy/stories260K` (huggingface_hub's layout). */
async function hubCacheWithStories(): Promise<{ cache: string; snapshot: string }> {
  const cache = join(dir, "hub-cache");
  const repoDir = join(cache, "models--karpathy--stories260K");
  const rev = "0123456789abcdef0123456789abcdef01234567";
  const snapshot = join(repoDir, "snapshots", rev);
  await cp(modelDir, snapshot, { recursive: true });
  await mkdir(join(repoDir, "refs"), { recursive: true });
  await writeFile(join(repoDir, "refs", "main"), rev);
  return { cache, snapshot };
}

const repo = join(import.meta.dirname, "../../../../..");
const modelDir = join(repo, "examples/models/stories260K");
const template =
  "{{ bos_token }}{% for m in messages %}{% if m.role == 'user' %}<|user|>{{ m.content }}<|end|>" +
  "{% elif m.role == 'assistant' %}<|assistant|>{{ m.content }}<|end|>{% endif %}{% endfor %}" +
  "{% if add_generation_prompt %}<|assistant|>{% endif %}";

let dir: string;
beforeAll(async () => {
  await initBackend();
  dir = await mkdtemp(join(tmpdir(), "sft-gen-adapter-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function trainAndSave(
  method: RecipeInput["method"],
  name: string,
  source: RecipeInput["model"] = { path: modelDir },
  baseModelName?: string,
) {
  const plan = await compile(
    {
      name,
      model: source,
      template: { jinja: template },
      data: {
        sources: { chat: { path: join(repo, "examples/quickstart/data/chat.jsonl"), format: "messages" } },
      },
      tokens: { add: ["<|user|>", "<|assistant|>", "<|end|>"], eos: "<|end|>" },
      method,
      output: { dir: join(dir, name), ...(baseModelName ? { baseModelName } : {}) },
    },
    { write: false, readData: false },
  );
  const model = await loadModel(modelDir);
  await growVocabulary(model, plan);
  const rt = buildMethod(model, plan, 3);
  const tok = await loadTokenizer(modelDir);
  tok.addTokens(plan.tokenizer.added);
  const text = tok.applyChatTemplate(
    [
      { role: "user", content: "Who is Lily?" },
      { role: "assistant", content: "Lily is a girl who likes to play." },
    ],
    { template },
  );
  const ids = tok.encode(text, { addSpecialTokens: false });
  const batch = { batch: 1, seqLen: ids.length, ids: Int32Array.from(ids) };
  const vars = [...rt.trainable.values()];
  for (let s = 0; s < 4; s++) {
    const r = await lossAndGrads(model, { batch, labels: batch.ids }, vars, {
      hooks: rt.forward(true, s).hooks,
    });
    sgdUpdate(vars, r.grads, 0.02);
    for (const g of r.grads) g.dispose();
  }
  const out = join(dir, name);
  await rt.save({
    outDir: out,
    save: "both",
    tokenizerDir: modelDir,
    chatTemplate: template,
    // As the training loop records it.
    baseModel: baseModelOf(plan.model.source, baseModelName),
  });
  const prompt = tok.applyChatTemplate([{ role: "user", content: "Who is Lily?" }], {
    addGenerationPrompt: true,
    template,
  });
  const promptIds = tok.encode(prompt, { addSpecialTokens: false });
  const res = await generate(model, promptIds, { maxNewTokens: 12, hooks: rt.forward(false, 0).hooks });
  rt.dispose();
  model.dispose();
  return { out, trainedIds: res.ids };
}

describe("sft generate --adapter on stories260K", () => {
  it("LoRA with new tokens: base + adapter = trained model = merged folder (greedy ids)", async () => {
    const { out, trainedIds } = await trainAndSave(
      { kind: "lora", rank: 4, alpha: 8, targets: "all-linear" },
      "lora",
    );
    const viaAdapter = await runGenerate({
      model: modelDir,
      adapter: join(out, "adapter"),
      prompt: "Who is Lily?",
      maxNewTokens: 12,
    });
    expect(viaAdapter.promptText).toContain("<|assistant|>");
    expect(viaAdapter.ids).toEqual(trainedIds.slice(0, viaAdapter.ids.length));
    const merged = await runGenerate({ model: join(out, "model"), prompt: "Who is Lily?", maxNewTokens: 12 });
    expect(merged.ids).toEqual(viaAdapter.ids);
    // The trained end-of-turn token is where transformers' generate() stops.
    const end = 514;
    const read = (f: string) => readJson(join(out, "model", f));
    expect(read("config.json").eos_token_id).toEqual([end, 2]);
    expect(read("generation_config.json").eos_token_id).toEqual([end, 2]);
    expect(read("tokenizer_config.json").eos_token).toBe("<|end|>");
    // config.json carries transformers' current `dtype` key (and the older one, equal, for older readers).
    expect(read("config.json").dtype).toBe("float32");
    expect(read("config.json").torch_dtype).toBe("float32");
  });

  it("the adapter folder stops on the trained end token, says how to load it, and names its base portably", async () => {
    const { out } = await trainAndSave(
      { kind: "lora", rank: 4, alpha: 8, targets: "all-linear" },
      "lora-portable",
    );
    const adapter = join(out, "adapter");
    const end = 514;
    // Same generation config as the merged folder: base + adapter stops where the merged model does.
    const gen = readJson(join(adapter, "generation_config.json"));
    expect(gen.eos_token_id).toEqual([end, 2]);
    expect(gen).toEqual(readJson(join(out, "model", "generation_config.json")));
    const conf = readJson(join(adapter, "adapter_config.json"));
    // Tied stories260K: new rows through a flat trainable_token_indices, which PEFT reads since 0.15.0.
    expect(conf.trainable_token_indices).toEqual([512, 513, 514]);
    expect(conf.peft_version).toBe("0.15.0");
    // Not the training machine's absolute path: the base folder relative to the adapter folder.
    const recorded = conf.base_model_name_or_path as string;
    expect(isAbsolute(recorded)).toBe(false);
    expect(resolve(adapter, recorded)).toBe(resolve(modelDir));
    const readme = readFileSync(join(adapter, "README.md"), "utf8");
    expect(readme).toContain(recorded);
    expect(readme).toContain("0.15.0 or newer");
    expect(readme).toContain("base.resize_token_embeddings(len(tokenizer))");
    expect(readme).toContain("`<|end|>` (id 514)");
    expect(readme).toContain("GenerationConfig.from_pretrained(adapter)");
    // sftkit finds the base again from the adapter alone, from another working directory.
    const withBase = await runGenerate({ model: modelDir, adapter, prompt: "Who is Lily?", maxNewTokens: 8 });
    const alone = await elsewhere(() => runGenerate({ adapter, prompt: "Who is Lily?", maxNewTokens: 8 }));
    expect(alone.ids).toEqual(withBase.ids);
  });

  it("a base from the Hugging Face cache is recorded as its hub id (or the name set) and found through the cache", async () => {
    const { cache, snapshot } = await hubCacheWithStories();
    await withHubCache(cache, async () => {
      const lora: RecipeInput["method"] = { kind: "lora", rank: 2, targets: ["q_proj"] };
      const { out } = await trainAndSave(lora, "hub", { hub: "karpathy/stories260K" });
      const adapter = join(out, "adapter");
      const conf = readJson(join(adapter, "adapter_config.json"));
      expect(conf.base_model_name_or_path).toBe("karpathy/stories260K");
      expect(conf.revision).toBe(basename(snapshot));
      expect(readFileSync(join(adapter, "README.md"), "utf8")).toContain(
        'from_pretrained("karpathy/stories260K", revision=',
      );
      const alone = await elsewhere(() => runGenerate({ adapter, prompt: "Who is Lily?", maxNewTokens: 4 }));
      expect(alone.ids.length).toBeGreaterThan(0);
      // A path into the cache is the same model: recorded by its hub id too.
      const byPath = await trainAndSave(lora, "hub-path", { path: snapshot });
      expect(readJson(join(byPath.out, "adapter", "adapter_config.json")).base_model_name_or_path).toBe(
        "karpathy/stories260K",
      );
      // The recipe's output.baseModelName wins, written as is.
      const named = await trainAndSave(lora, "hub-named", { path: snapshot }, "/cluster/models/stories260K");
      expect(readJson(join(named.out, "adapter", "adapter_config.json")).base_model_name_or_path).toBe(
        "/cluster/models/stories260K",
      );
    });
  });

  it("prefix: base + adapter = trained model", async () => {
    const { out, trainedIds } = await trainAndSave({ kind: "prefix", virtualTokens: 4 }, "prefix");
    const viaAdapter = await runGenerate({
      model: modelDir,
      adapter: join(out, "adapter"),
      prompt: "Who is Lily?",
      maxNewTokens: 12,
    });
    expect(viaAdapter.ids).toEqual(trainedIds.slice(0, viaAdapter.ids.length));
    // No token rows in a prefix adapter: an older PEFT suffices (GQA prefixes: 0.12.0), no peft_version.
    const conf = readJson(join(out, "adapter", "adapter_config.json"));
    expect(conf.peft_version).toBeUndefined();
    expect(conf.trainable_token_indices).toBeUndefined();
    const readme = readFileSync(join(out, "adapter", "README.md"), "utf8");
    expect(readme).toContain("0.12.0 or newer");
    expect(readme).toContain("resize the base's embeddings to `len(tokenizer)`");
  });
});
