// `sft generate --adapter` on the real stories260K: base + saved adapter decodes what the trained model
// decodes, and the merged folder decodes the same.
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compile } from "../../compile/compile.ts";
import { loadTokenizer } from "../../data/tokenizer/index.ts";
import { generate } from "../../engines/tfjs/generate.ts";
import { buildMethod, growVocabulary } from "../../model/adapters/index.ts";
import { initBackend } from "../../model/backend.ts";
import { loadModel } from "../../model/llama.ts";
import { lossAndGrads, sgdUpdate } from "../../model/train-step.ts";
import type { RecipeInput } from "../../recipe/schema/recipe.ts";
import { runGenerate } from "./generate.ts";

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

async function trainAndSave(method: RecipeInput["method"], name: string) {
  const plan = await compile(
    {
      name,
      model: { path: modelDir },
      template: { jinja: template },
      data: {
        sources: { chat: { path: join(repo, "examples/quickstart/data/chat.jsonl"), format: "messages" } },
      },
      tokens: { add: ["<|user|>", "<|assistant|>", "<|end|>"], eos: "<|end|>" },
      method,
      output: { dir: join(dir, name) },
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
    baseModel: modelDir,
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
    const read = (f: string) =>
      JSON.parse(readFileSync(join(out, "model", f), "utf8")) as Record<string, unknown>;
    expect(read("config.json").eos_token_id).toEqual([end, 2]);
    expect(read("generation_config.json").eos_token_id).toEqual([end, 2]);
    expect(read("tokenizer_config.json").eos_token).toBe("<|end|>");
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
  });
});
