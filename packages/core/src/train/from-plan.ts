// Training from a plan.json file: the plan and the data cache it names are the whole program.
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { PLAN_VERSION, type Plan, PlanSchema } from "../compile/plan-schema.ts";
import { TrainError } from "./errors.ts";
import { type RunResult, type TrainOptions, train } from "./loop.ts";

/** Reads and validates a plan.json; every problem is a TrainError naming the file and the field. */
export async function readPlanFile(path: string): Promise<Plan> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    throw new TrainError(
      `plan file not found: ${file} (sft plan <recipe.ts> writes one to the output folder)`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new TrainError(`${file}: not JSON: ${(e as Error).message}`);
  }
  const version = (json as { version?: unknown } | null)?.version;
  if (version !== PLAN_VERSION)
    throw new TrainError(
      `${file}: plan version ${JSON.stringify(version)}, this sftkit runs version ${PLAN_VERSION} plans; compile the recipe again with this sftkit`,
    );
  const parsed = PlanSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new TrainError(`${file} is not a valid plan:\n  ${issues.join("\n  ")}`);
  }
  return parsed.data;
}

/** train(plan) on the plan in `path`, without the recipe it was compiled from. */
export async function trainFromPlan(
  path: string,
  opts: Omit<TrainOptions, "compiled"> = {},
): Promise<RunResult> {
  const plan = await readPlanFile(path);
  return train(plan, { planFile: resolve(path), ...opts });
}
