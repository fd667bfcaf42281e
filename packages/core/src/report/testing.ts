// Test helpers: metrics lines as the training loop writes them, and the quickstart's plan.
import { join } from "node:path";
import { compile } from "../compile/compile.ts";
import type { Plan } from "../compile/plan-schema.ts";

export const repoRoot = join(import.meta.dirname, "../../../..");
export const quickstartRecipe = join(repoRoot, "examples/quickstart/recipe.ts");

/** `steps` step lines (loss falling, warm-up then constant lr), an eval line every `evalEvery` steps, samples at the end. */
export function metricsLines(steps: number, evalEvery = 0, samples = false): string {
  const lines: string[] = [];
  for (let i = 1; i <= steps; i++) {
    lines.push(
      JSON.stringify({
        step: i,
        epoch: i / 10,
        loss: 3 - Math.log(i) / 2,
        lr: 3e-3 * Math.min(1, i / 4),
        tokens: 900 + (i % 3) * 50,
        trainedTokens: 400,
        seconds: 1 + (i % 4) / 10,
        gradNorm: 1.5,
      }),
    );
    if (evalEvery && i % evalEvery === 0)
      lines.push(JSON.stringify({ step: i, evalLoss: 3.2 - Math.log(i) / 3, evalTokens: 200, seconds: 0.4 }));
  }
  if (samples && steps > 0)
    lines.push(
      JSON.stringify({ step: steps, sample: { prompt: "<|user|>Hi <b>", completion: "Once upon a time" } }),
    );
  return `${lines.join("\n")}\n`;
}

/** The quickstart's plan, compiled without writing anything (about half a second). */
export function quickstartPlan(): Promise<Plan> {
  return compile(quickstartRecipe, { write: false });
}
