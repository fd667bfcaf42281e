// Decisions an engine reads from the plan, each in one place (the plan is the program).
import type { Plan } from "../compile/plan-schema.ts";

/**
 * Whether each layer is recomputed in backward: the plan's recompute decision. Plans made before it was
 * recorded: the GPU plan's choice when there is one (it turns checkpointing on when a row of the longest
 * length would not fit without it), else the recipe's.
 */
export function gradientCheckpointingOf(plan: Plan): boolean {
  return plan.recompute?.layers ?? plan.gpu?.gradientCheckpointing ?? plan.memory.gradientCheckpointing;
}

/**
 * The most tokens (rows × padded length) one micro-batch of the plan holds, training or evaluating: its
 * token budget, or its rows of maxLength; null where the plan has no batching (engine test plans).
 */
export function plannedTokensPerMicroBatch(plan: Plan): number | null {
  const b = plan.batching as Plan["batching"] | undefined;
  if (!b || !plan.data) return null;
  const maxLength = plan.data.maxLength;
  return Math.max(b.tokensPerMicroBatch ?? (b.microBatchSize ?? 1) * maxLength, maxLength);
}
