// Decisions an engine reads from the plan, each in one place (the plan is the program).
import type { Plan } from "../compile/plan-schema.ts";

/**
 * Whether each layer is recomputed in backward: the GPU plan's decision when there is one (it turns
 * checkpointing on when a row of the longest length would not fit without it), else the recipe's.
 */
export function gradientCheckpointingOf(plan: Plan): boolean {
  return plan.gpu?.gradientCheckpointing ?? plan.memory.gradientCheckpointing;
}
