// Test fixtures for the loop: a small recipe on the real stories260K model and the quickstart's chat data.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CompileResult, compileRecipe } from "../compile/compile.ts";
import type { Plan } from "../compile/plan-schema.ts";
import type { RecipeInput } from "../recipe/schema/recipe.ts";

export const repo = join(import.meta.dirname, "../../../..");
export const storiesDir = join(repo, "examples/models/stories260K");
export const chatData = join(repo, "examples/quickstart/data/chat.jsonl");

/**
 * A plain-text chat template: stories260K knows these words, and EOS ends each answer. The space before
 * the EOS matters: this tokenizer's `</s>` is a normalized added token, matched only as "▁</s>" (as in
 * Llama-2's own template), so "happy.</s>" would be spelled out in characters and never stop generation.
 */
export const plainTemplate =
  "{{ bos_token }}{% for m in messages %}{% if m.role == 'user' %}Q: {{ m.content }}\n" +
  "{% elif m.role == 'assistant' %}A: {{ m.content }} {{ eos_token }}{% endif %}{% endfor %}" +
  "{% if add_generation_prompt %}A:{% endif %}";

export function testRecipe(
  train: Record<string, unknown> = {},
  extra: Partial<RecipeInput> = {},
): RecipeInput {
  return {
    name: "loop-test",
    model: { path: storiesDir },
    template: { jinja: plainTemplate },
    data: { sources: { chat: { path: chatData, format: "messages", eval: 8, samples: 32 } } },
    method: { kind: "full" },
    train: {
      steps: 4,
      learningRate: 3e-3,
      warmupSteps: 1,
      maxLength: 128,
      tokensPerMicroBatch: 512,
      eval: { maxSamples: 8 },
      ...train,
    },
    output: { dir: mkdtempSync(join(tmpdir(), "sft-train-")) },
    ...extra,
  } as RecipeInput;
}

export async function compileTest(recipe: RecipeInput): Promise<{ plan: Plan; compiled: CompileResult }> {
  const compiled = await compileRecipe(recipe, { write: false });
  if (!compiled.plan) throw new Error(compiled.diagnostics.map((d) => d.message).join("\n"));
  return { plan: compiled.plan, compiled };
}
