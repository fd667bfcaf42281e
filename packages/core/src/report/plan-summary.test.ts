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

  it("gives one memory figure and says what it is the estimated peak of: process, wasm heap or GPU", async () => {
    const plan = await planOf("qlora");
    const on = (backend: string, extra: Partial<typeof plan> = {}) =>
      formatPlanSummary(
        { ...plan, ...extra, memory: { ...plan.memory, device: { ...plan.memory.device, backend } } },
        plain,
      );
    const native = on("native");
    expect(native.match(/peak/g)).toHaveLength(1);
    expect(native).toContain("(estimated for the whole process: the sum above; `sft run` measures it)");
    expect(on("wasm")).toContain("(estimated for the wasm heap: the sum above; `sft run` measures the heap)");
    expect(on("cuda")).toContain(
      "(estimated on the GPU: the sum above; the engine reserves it, less the runtime, at load)",
    );
    // A cuda plan's GPU line: what fits a micro-batch, and the arena reserved at load.
    const gpu = {
      device: { name: "NVIDIA H200", bytes: 150e9, simulated: false },
      usableBytes: 140e9,
      residentBytes: 2e9,
      gradientCheckpointing: false,
      buckets: [{ length: 1024, rows: 96, tokensPerMicroBatch: 98_304, peakBytes: 120e9 }],
      distinctShapes: 1,
      note: "",
    };
    const cuda = formatPlanSummary(
      {
        ...plan,
        gpu,
        memory: {
          ...plan.memory,
          arena: 2 ** 30,
          device: { backend: "cuda", bytes: 150e9, note: "NVIDIA H200" },
        },
      },
      plain,
    );
    expect(cuda).toContain(
      "GPU NVIDIA H200: 96 rows of 1024 (98.3K tokens) fit a micro-batch · 1.00 GiB reserved at load (the arena)",
    );
    expect(native).not.toContain("GPU NVIDIA");
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
