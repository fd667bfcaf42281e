// The plan as `sft plan` prints it: settings in words (no raw JSON), the kernel internals only when asked.
import { describe, expect, it } from "vitest";
import { compileRecipe } from "../compile/compile.ts";
import { copyExamples } from "../testing/example-copy.ts";
import { colorsFor, formatBytes } from "../util/format.ts";
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

  it("gives one memory figure and says it is the estimated peak of the whole process", async () => {
    const plan = await planOf("qlora");
    const text = formatPlanSummary(plan, plain);
    expect(text.match(/peak/g)).toHaveLength(1);
    expect(text).toContain("(estimated for the whole process: the sum above; `sft run` measures it)");
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

  it("shows what the run puts on disk: checkpoints held under retention, the artefacts and the data cache", async () => {
    const r = await compileRecipe(examples.recipe("qlora"));
    const plan = r.plan!;
    const disk = plan.disk!;
    expect(disk.dataCache).toBeGreaterThan(0);
    expect(disk.total).toBe(disk.checkpoint * disk.checkpointsHeld + disk.artefacts + disk.dataCache!);
    const line = formatPlanSummary(plan, plain)
      .split("\n")
      .find((l) => l.startsWith("Disk"));
    expect(line).toMatch(
      /^Disk\s+about [\d.]+ [KMGT]iB: \d+ checkpoints? of [\d.]+ [KMGT]?i?B \(.+\) · .+ under \S+ · data cache [\d.]+ [KMGT]?i?B in \S+$/,
    );
    expect(line).toContain(formatBytes(disk.total));
    expect(line).toContain(formatBytes(disk.dataCache!));
  });
});
