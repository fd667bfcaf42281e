// Each of the six methods, through the real loop on the real pretrained stories260K and the quickstart's chat
// data (its short answers): the eval loss falls, and afterwards greedy answers end with the end token.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { RecipeInput } from "../recipe/schema/recipe.ts";
import { chatData, compileTest, testRecipe } from "./fixtures.testing.ts";
import { train } from "./loop.ts";

let shortAnswers = "";
beforeAll(() => {
  const rows = readFileSync(chatData, "utf8").trim().split("\n");
  const short = rows.filter((l) => (JSON.parse(l).messages[1].content as string).length < 60);
  shortAnswers = join(mkdtempSync(join(tmpdir(), "sft-methods-")), "short.jsonl");
  writeFileSync(shortAnswers, `${short.join("\n")}\n`);
});

// The frozen method trains only new token rows: here the role and end tokens, which it must learn to emit.
const roleTemplate =
  "{{ bos_token }}{% for m in messages %}{% if m.role == 'user' %}<|user|>{{ m.content }}<|end|>" +
  "{% else %}<|assistant|>{{ m.content }}<|end|>{% endif %}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}";

/**
 * New role and end tokens, as the quickstart has. The base model's own `</s>` row was barely trained in
 * pretraining, so adapters (which leave the embedding frozen) learn to stop on a new end token whose row
 * trains with them (LoRA's trainable token rows) far more readily.
 */
const roles: Partial<RecipeInput> = {
  template: { jinja: roleTemplate },
  tokens: { add: ["<|user|>", "<|assistant|>", "<|end|>"], eos: "<|end|>" },
  acknowledge: ["sft/high-learning-rate", "sft/new-tokens-untrained"],
};

const methods: {
  name: string;
  method: RecipeInput["method"];
  lr: number;
  steps: number;
  extra?: Partial<RecipeInput>;
  end: string | null;
}[] = [
  // Steps: enough for the answers to end with the end token. Full and partial do by step 20 (eval loss by
  // then under a seventh of the initial); LoRA's still ran on at step 24 and a prefix's was garbled at 90.
  { name: "full", method: { kind: "full" }, lr: 2e-3, steps: 20, end: "</s>" },
  {
    name: "partial",
    method: { kind: "partial", lastLayers: 2, lmHead: true },
    lr: 3e-3,
    steps: 20,
    end: "</s>",
  },
  {
    name: "lora",
    method: { kind: "lora", rank: 8, alpha: 16, targets: "all-linear" },
    lr: 5e-3,
    steps: 40,
    extra: roles,
    end: "<|end|>",
  },
  {
    name: "qlora",
    method: { kind: "qlora", rank: 8, alpha: 16, targets: "all-linear" },
    lr: 5e-3,
    steps: 40,
    extra: roles,
    end: "<|end|>",
  },
  // P-tuning v2 cannot train token rows, and stories260K's own `</s>` row never got a gradient in pretraining
  // (llama2.c's TinyStories marks stories with BOS only), so no prefix can make its logit win; the test makes
  // the checkpoint's well-trained `<s>` the end token instead. With it the prefixes learn to stop.
  {
    name: "prefix",
    method: { kind: "prefix", virtualTokens: 16, reparameterize: { hiddenSize: 128 } },
    lr: 1e-2,
    steps: 150,
    extra: { tokens: { eos: { vocab: "<s>" } } },
    end: "<s>",
  },
  {
    name: "frozen",
    method: { kind: "frozen", trainable: { newTokens: true } },
    lr: 3e-2,
    steps: 60,
    extra: roles,
    end: "<|end|>",
  },
];

describe("every method trains through the loop", () => {
  for (const { name, method, lr, steps, extra, end } of methods) {
    it(`${name}: eval loss falls${end ? ` and greedy answers end with ${end}` : ""}`, async () => {
      // Evaluated (loss and greedy samples) only before and after training, which is what the assertions
      // compare: the default, once per epoch, added four evaluations with greedy samples (a fifth of the time).
      const recipe = testRecipe(
        { steps, learningRate: lr, warmupSteps: 2, eval: { maxSamples: 8, every: steps } },
        { method, acknowledge: ["sft/high-learning-rate"], ...extra },
      );
      recipe.data.sources.chat!.path = shortAnswers;
      const { plan, compiled } = await compileTest(recipe);
      const r = await train(plan, { compiled, progress: "off", handleSigint: false, samples: 2 });
      // Falls by half at least: a real margin, not noise.
      expect(r.evalLoss!).toBeLessThan(r.initialEvalLoss! / 2);
      expect(r.samples).toHaveLength(2);
      if (end)
        for (const s of r.samples)
          expect(s.completion, JSON.stringify(s).slice(0, 200)).toMatch(
            new RegExp(`${end.replace(/[|]/g, "\\|")}$`),
          );
    });
  }
});
