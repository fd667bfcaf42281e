// The plan's learning-rate groups as a multiplier per trainable tensor, for any engine's optimizer.
import type { Plan } from "../compile/plan-schema.ts";

/** The ratio to the base learning rate for a tensor: its first matching group's, else 1. */
export function learningRateRatio(plan: Pick<Plan, "optimizer">): (name: string) => number {
  const groups = (plan.optimizer.groups ?? []).map((g) => ({
    re: new RegExp(g.pattern),
    ratio: g.learningRateRatio,
  }));
  if (groups.length === 0) return () => 1;
  return (name) => groups.find((g) => g.re.test(name))?.ratio ?? 1;
}
