import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compileRecipe } from "../compile/compile.ts";
import { probeFacts } from "../data/probes.ts";
import { modelGenerator } from "../engines/tfjs/generate.ts";
import { initBackend } from "../model/backend.ts";
import { loadModel } from "../model/llama.ts";
import { ProbesSchema } from "../recipe/schema/probes.ts";
import { evaluateProbes } from "./probes.ts";

const repo = join(import.meta.dirname, "../../../..");
const model = join(repo, "examples/models/stories260K");
const data = join(repo, "examples/quickstart/data/chat.jsonl");

describe("knowledge probes", () => {
  it("generates facts deterministically on fresh tokens", () => {
    const spec = ProbesSchema.parse({ count: 5, facts: [{ token: "<|sky|>", answer: "blue" }] });
    const facts = probeFacts(spec);
    expect(facts.map((f) => f.token)).toEqual([
      "<|sky|>",
      "<|probe_0|>",
      "<|probe_1|>",
      "<|probe_2|>",
      "<|probe_3|>",
      "<|probe_4|>",
    ]);
    expect(facts[0]).toEqual({ token: "<|sky|>", answer: "blue", question: "What is <|sky|>?" });
    expect(probeFacts(spec)).toEqual(facts);
    expect(probeFacts({ ...spec, seed: 1 }).map((f) => f.answer)).not.toEqual(facts.map((f) => f.answer));
  });

  it("are added as tokens and mixed into training at the set rate", async () => {
    const result = await compileRecipe(
      {
        model: { path: model },
        template: "llama-2",
        data: { sources: { chat: { path: data, format: "messages" } } },
        method: { kind: "lora" },
        probes: { count: 8, rate: 0.2 },
        acknowledge: ["sft/no-eval-split"],
      },
      { write: false },
    );
    const plan = result.plan!;
    expect(plan.probes).toMatchObject({ count: 8, rate: 0.2, answerSpace: 64 });
    expect(plan.probes!.chance).toBeCloseTo(1 / 64);
    expect(plan.tokenizer.added.map((t) => t.content)).toContain("<|probe_7|>");
    const chat = plan.data.sources.find((s) => s.name === "chat")!.samplesPerEpoch!;
    const probes = plan.data.sources.find((s) => s.name === "probes")!.samplesPerEpoch!;
    expect(probes / (probes + chat)).toBeCloseTo(0.2, 2);
    // Each probe sample trains only its answer: the question, with the probe token, is masked.
    const sample = result.data!.prepared!.train.probes![0]!;
    const probeId = plan.tokenizer.added.find((t) => t.content === "<|probe_0|>")!.id!;
    const at = sample.inputIds.indexOf(probeId);
    expect(at).toBeGreaterThan(0);
    expect(sample.labels[at]).toBe(-100);
  });

  it("recall is measured by greedy exact match (an untrained model knows none)", async () => {
    await initBackend({ backend: "wasm" });
    const m = await loadModel(model);
    // Facts on tokens the checkpoint already has, so the base model can run without growing its vocabulary.
    const result = await compileRecipe(
      {
        model: { path: model },
        template: "llama-2",
        data: { sources: { chat: { path: data, format: "messages" } } },
        method: { kind: "full" },
        probes: {
          facts: [
            { token: "<unk>", answer: "a red ball" },
            { token: "</s>", answer: "a big tree" },
          ],
        },
      },
      { write: false },
    );
    const tokenizer = result.resolved!.tokenizer!;
    const { recall, results } = await evaluateProbes(modelGenerator(m), result.resolved!.probes!, {
      tokenizer,
      template: result.resolved!.template!.text,
      stopIds: [tokenizer.eosTokenId!],
    });
    expect(results.map((r) => r.answer)).toEqual(["a red ball", "a big tree"]);
    expect(results.every((r) => typeof r.output === "string" && r.output !== r.answer)).toBe(true);
    expect(recall).toBe(0);
    m.dispose();
  });
});
