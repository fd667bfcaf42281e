import { describe, expect, it } from "vitest";
import type { Plan } from "../compile/plan-schema.ts";
import { gradientCheckpointingOf } from "./decisions.ts";

const plan = (memory: boolean, gpu: boolean | null) =>
  ({
    memory: { gradientCheckpointing: memory },
    gpu: gpu === null ? null : { gradientCheckpointing: gpu },
  }) as unknown as Plan;

describe("plan decisions", () => {
  it("gradient checkpointing follows the GPU plan when it turned it on, else the recipe", () => {
    expect(gradientCheckpointingOf(plan(false, true))).toBe(true);
    expect(gradientCheckpointingOf(plan(false, null))).toBe(false);
    expect(gradientCheckpointingOf(plan(true, null))).toBe(true);
  });
});
