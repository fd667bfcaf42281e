// On the real stories260K checkpoint: every method's runtime trains exactly the parameters the plan
// counts, QLoRA quantizes exactly the planned parameters at the planned bytes, and vocabulary growth
// follows the plan's added tokens.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { compile } from "../compile/compile.ts";
import type { Plan } from "../compile/plan-schema.ts";
import { initBackend } from "../model/backend.ts";
import { loadModel } from "../model/llama.ts";
import { lossAndGrads, sgdUpdate } from "../model/train-step.ts";
import type { RecipeInput } from "../recipe/schema/recipe.ts";
import { buildMethod } from "./index.ts";
import { buildMethodRuntime } from "./runtime.ts";
import { growVocabulary } from "./vocab.ts";

const repo = join(import.meta.dirname, "../../../..");
const modelDir = join(repo, "examples/models/stories260K");

beforeAll(async () => {
  await initBackend();
});

function plan(method: RecipeInput["method"]): Promise<Plan> {
  return compile(
    {
      name: `agree-${method.kind}`,
      model: { path: modelDir },
      template: "llama-2",
      data: {
        sources: { chat: { path: join(repo, "examples/quickstart/data/chat.jsonl"), format: "messages" } },
      },
      tokens: {
        add: ["<tool>", { content: "<think>", init: "describe", description: "Once upon a time" }],
      },
      method,
      output: { dir: join(repo, "out/never-written") },
    },
    { write: false, readData: false },
  );
}

const LR = { full: 0.02, partial: 0.02, frozen: 0.2, lora: 0.005, qlora: 0.005, prefix: 0.5 } as const;

/** The first quickstart chat row, the plan's added tokens marking the turns. */
async function chatIds(p: Plan): Promise<Int32Array> {
  const { loadTokenizer } = await import("../data/tokenizer/index.ts");
  const tok = await loadTokenizer(p.tokenizer.dir!);
  const row = JSON.parse(
    readFileSync(join(repo, "examples/quickstart/data/chat.jsonl"), "utf8").split("\n")[0]!,
  ) as {
    messages: { content: string }[];
  };
  const [mark, end] = p.tokenizer.added.map((t) => t.id!) as [number, number];
  const ids = [1];
  for (const m of row.messages) ids.push(mark, ...tok.encode(m.content, { addSpecialTokens: false }), end);
  return Int32Array.from(ids);
}

const methods: RecipeInput["method"][] = [
  { kind: "full" },
  { kind: "partial", lastLayers: 2, modules: ["norm"], embeddings: true },
  { kind: "frozen", trainable: { norms: true } },
  { kind: "lora", rank: 4, targets: ["q_proj", "v_proj", "up_proj"] },
  { kind: "lora", rank: 8, targets: "all-linear", rslora: true, trainNewTokens: false },
  { kind: "qlora", rank: 4, targets: "all-linear" },
  { kind: "prefix", virtualTokens: 5 },
  { kind: "prefix", virtualTokens: 5, reparameterize: { hiddenSize: 32 } },
];

describe("runtimes agree with the plan on stories260K", () => {
  for (const method of methods) {
    it(`${method.kind} ${JSON.stringify(method).slice(0, 60)}`, async () => {
      const p = await plan(method);
      const model = await loadModel(modelDir);
      await growVocabulary(model, p);
      expect(model.config.vocabSize).toBe(p.model.vocab.total);
      const rt = buildMethodRuntime(model, p, 1);
      const trainable = [...rt.trainable.values()].reduce((a, v) => a + v.size, 0);
      expect(trainable).toBe(p.parameters.trainable);
      if (method.kind === "qlora") {
        const { bytes, parameters } = rt.parts.nf4!.storage();
        expect(parameters).toBe(p.parameters.quantized);
        const planned = p.parameterGroups
          .filter((g) => g.role === "quantized")
          .reduce((a, g) => a + g.bytes, 0);
        // Per tensor: partial last blocks and one float32 mean.
        expect(Math.abs(bytes - planned) / planned).toBeLessThan(0.01);
        expect(bytes / parameters).toBeGreaterThan(0.515);
        expect(bytes / parameters).toBeLessThan(0.53);
      }
      // A few plain SGD steps on one real chat row: the loss falls.
      const ids = await chatIds(p);
      const batch = { batch: 1, seqLen: ids.length, ids };
      const vars = [...rt.trainable.values()];
      const losses: number[] = [];
      for (let s = 0; s < 4; s++) {
        const r = await lossAndGrads(model, { batch, labels: ids }, vars, rt.forward(true, s));
        losses.push(r.loss / r.tokens);
        sgdUpdate(vars, r.grads, LR[method.kind] / r.tokens);
        for (const g of r.grads) g.dispose();
      }
      expect(losses[3]!).toBeLessThan(losses[0]!);
      rt.dispose();
      model.dispose();
    });
  }

  it("initialises new rows from the plan: `describe` is the mean embedding of the description", async () => {
    const p = await plan({ kind: "full" });
    const model = await loadModel(modelDir);
    const E0 = (await model.w("model.embed_tokens.weight").data()).slice() as Float32Array;
    await growVocabulary(model, p);
    await growVocabulary(model, p); // idempotent
    const E = (await model.w("model.embed_tokens.weight").data()) as Float32Array;
    const { loadTokenizer } = await import("../data/tokenizer/index.ts");
    const tok = await loadTokenizer(modelDir);
    const desc = tok.encode("Once upon a time", { addSpecialTokens: false });
    const d = 64;
    for (let j = 0; j < d; j++) {
      const want = desc.reduce((a, id) => a + E0[id * d + j]!, 0) / desc.length;
      expect(E[513 * d + j]).toBeCloseTo(want, 5);
    }
    expect(E.subarray(0, 512 * d)).toEqual(E0);
    // buildMethod (the loop's entry point) accepts the grown model.
    const rt = buildMethod(model, p, 0);
    expect(rt.kind).toBe("full");
    rt.dispose();
    model.dispose();
  });
});
