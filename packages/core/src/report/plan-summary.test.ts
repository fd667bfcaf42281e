// The plan as `sft plan` prints it: settings in words (no raw JSON), the kernel internals only when asked.
import { describe, expect, it } from "vitest";
import { compileRecipe } from "../compile/compile.ts";
import { copyExamples } from "../testing/example-copy.ts";
import { colorsFor } from "../util/format.ts";
import { formatPlanSummary } from "./plan-summary.ts";

const plain = colorsFor({ isTTY: false } as NodeJS.WriteStream);
const examples = copyExamples("sft-plan-summary-");

async function planOf(example: string) {
  const r = await compileRecipe(examples.recipe(example), { readData: false });
  expect(r.plan, JSON.stringify(r.diagnostics)).toBeTruthy();
  return r.plan!;
}

describe("the plan summary", () => {
  it("prints frozen and qlora settings in words, not JSON", async () => {
    for (const example of ["frozen-tokens", "qlora"]) {
      const method = formatPlanSummary(await planOf(example), plain)
        .split("\n")
        .find((l) => l.startsWith("Method"))!;
      expect(method).not.toMatch(/[{["]/);
    }
    const frozen = formatPlanSummary(await planOf("frozen-tokens"), plain);
    expect(frozen).toMatch(/newTokens <\|user\|>, <\|assistant\|>, <\|end\|>/);
  });

  it("lists the kernels only with verbose", async () => {
    const plan = await planOf("qlora");
    expect(formatPlanSummary(plan, plain)).not.toMatch(/^Kernels/m);
    // Which engine's kernels (native where it is built, else tfjs), then its ops.
    const engine = plan.engine!.chosen;
    const first = plan.kernels[0]!;
    expect(formatPlanSummary(plan, plain, process.cwd(), { verbose: true })).toContain(
      `Kernels   ${engine} engine\n          ${first.op}: ${first.formulation}`,
    );
  });
});
