// On the real stories260K checkpoint: every method's runtime trains exactly the parameters the plan
// counts, QLoRA quantizes exactly the planned parameters at the planned bytes, and vocabulary growth
// follows the plan's added tokens.
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { compile } from "../../compile/compile.ts";
import type { Plan } from "../../compile/plan-schema.ts";
import type { RecipeInput } from "../../recipe/schema/recipe.ts";
import { initBackend } from "../backend.ts";
import { loadModel } from "../llama.ts";
import { buildMethod } from "./index.ts";
import { buildMethodRuntime } from "./runtime.ts";
import { growVocabulary } from "./vocab.ts";

const repo = join(import.meta.dirname, "../../../../..");
const modelDir = join(repo, "examples/models/stories260K");

beforeAll(async () => {
  await initBackend();
});

function plan(method: RecipeInput["method"]): Promise<Plan> {
  return compile(
    {
      name: `agree-${method.kind}`,
      model: { path: modelDir },
      template: "chatml",
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
    const { loadTokenizer } = await import("../../data/tokenizer/index.ts");
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
