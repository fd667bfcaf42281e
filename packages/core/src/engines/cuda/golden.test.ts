// The golden files a GPU run compares with: they are what the CPU engines compute today (a stale file
// fails here), and compareGolden catches a wrong gradient, a wrong update and a missing tensor.
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../model/backend.ts";
import { nativeAvailability } from "../../model/native/load.ts";
import type { Engine } from "../engine.ts";
import { createNativeEngine } from "../native/engine.ts";
import { createTfjsEngine } from "../tfjs/engine.ts";
import {
  BF16_TOLERANCE,
  compareGolden,
  computeGolden,
  GOLDEN_CASES,
  GOLDEN_DIR,
  type Golden,
  goldenPlan,
  readGolden,
} from "./golden.ts";

/** The native engine where built (faster), else tfjs: both agree with the tfjs-made files within 2e-5. */
async function cpuEngine(method: unknown): Promise<Engine> {
  const plan = goldenPlan(method);
  return nativeAvailability().active ? createNativeEngine(plan) : createTfjsEngine(plan);
}

const tight = { loss: 1e-5, gradNorm: 1e-4, grad: 1e-4, after: 1e-5 };

describe("cuda golden files", () => {
  beforeAll(async () => {
    await initBackend();
  });

  for (const c of GOLDEN_CASES)
    it(`${c.name}: a CPU engine's step today matches the committed golden (regenerate with scripts/gen-cuda-goldens.ts)`, async () => {
      const want = readGolden(GOLDEN_DIR, c.name);
      expect(want.method).toEqual(c.method);
      const got = await computeGolden(c.name, c.method, await cpuEngine(c.method));
      const bad = compareGolden(got, want, tight).filter((x) => !x.ok);
      expect(bad).toEqual([]);
      // A step that trains: some gradient is non-zero and some tensor moved.
      expect(want.tensors.some((t) => t.grad.some((g) => g !== 0))).toBe(true);
    });

  it("compareGolden flags a gradient off by more than bf16 allows, a wrong update and a missing tensor", () => {
    const want = readGolden(GOLDEN_DIR, "lora");
    const clone = (g: Golden): Golden => ({
      ...g,
      tensors: g.tensors.map((t) => ({ ...t, grad: t.grad.slice(), after: t.after.slice() })),
    });
    expect(compareGolden(clone(want), want).every((c) => c.ok)).toBe(true);
    const off = clone(want);
    const moving = off.tensors.findIndex((t) => t.grad.some((g) => g !== 0));
    const t = off.tensors[moving]!;
    const i = t.grad.findIndex((g) => g !== 0);
    t.grad[i]! *= 1 + 3 * BF16_TOLERANCE.grad * (Math.max(...t.grad.map(Math.abs)) / Math.abs(t.grad[i]!));
    t.after[i]! += 0.1;
    off.tensors.pop();
    off.lossSum *= 1.05;
    const failed = compareGolden(off, want)
      .filter((c) => !c.ok)
      .map((c) => c.what);
    expect(failed).toEqual([
      "loss",
      `${t.name} gradient`,
      `${t.name} after the step`,
      `${want.tensors.at(-1)!.name} gradient`,
      `${want.tensors.at(-1)!.name} after the step`,
    ]);
  });
});
