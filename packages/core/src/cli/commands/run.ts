import { dirname, relative, sep } from "node:path";
import { type ArgsDef, defineCommand } from "citty";
import { compileRecipe } from "../../compile/compile.ts";
import type { Plan } from "../../compile/plan-schema.ts";
import type { SetFlag } from "../../recipe/overrides.ts";
import { formatPlanSummary } from "../../report/plan-summary.ts";
import { readPlanFile } from "../../train/from-plan.ts";
import { type RunResult, type TrainOptions, train } from "../../train/loop.ts";
import { colorsFor, formatBytes } from "../../util/format.ts";
import { reportFailure } from "../failure.ts";
import { sftCommand } from "../invocation.ts";
import { reportDiagnostics } from "../report.ts";
import { readSetFlags, setArg } from "../set-flags.ts";

/**
 * Compiles, shows the plan, then trains; Ctrl-C checkpoints and exits 130. A `.json` argument is a
 * plan.json (as `sft plan` writes it): it trains from the plan and its data cache, without the recipe.
 */
export async function runRecipe(
  recipe: string,
  opts: { resume?: boolean; overwrite?: boolean; maxSteps?: number | string; sets?: readonly SetFlag[] } = {},
): Promise<void> {
  const maxSteps = opts.maxSteps === undefined ? undefined : Number(opts.maxSteps);
  if (maxSteps !== undefined && !(Number.isInteger(maxSteps) && maxSteps > 0)) {
    process.stderr.write(`sft run: --max-steps must be a positive integer, got "${opts.maxSteps}"\n`);
    process.exitCode = 1;
    return;
  }
  const trainOpts: TrainOptions = {
    ...(opts.resume ? { resume: true } : {}),
    ...(opts.overwrite ? { overwrite: true } : {}),
    ...(maxSteps !== undefined ? { maxSteps } : {}),
  };
  if (recipe.endsWith(".json")) {
    if (opts.sets?.length) {
      process.stderr.write(
        "sft run: --set changes a recipe; a plan.json is already compiled (plan the recipe with --set)\n",
      );
      process.exitCode = 1;
      return;
    }
    await runPlan(recipe, trainOpts);
    return;
  }
  const result = await compileRecipe(recipe, { sets: opts.sets ?? [] });
  if (!reportDiagnostics(result) || !result.plan) return;
  await trainAndReport(result.plan, { ...trainOpts, compiled: result });
}

async function runPlan(file: string, opts: TrainOptions): Promise<void> {
  let plan: Plan;
  try {
    plan = await readPlanFile(file);
  } catch (e) {
    process.stderr.write(`sft run: ${(e as Error).message}\n`);
    process.exitCode = 1;
    return;
  }
  await trainAndReport(plan, { ...opts, planFile: file });
}

async function trainAndReport(plan: Plan, opts: TrainOptions): Promise<void> {
  const c = colorsFor(process.stdout);
  process.stdout.write(`${formatPlanSummary(plan, c)}\n\n`);
  let run: RunResult;
  try {
    run = await train(plan, opts);
  } catch (e) {
    // Anything else from the loop is printed as before: its message, without the trace.
    if (!reportFailure("run", e)) {
      process.stderr.write(`sft run: ${(e as Error).message}\n`);
      process.exitCode = 1;
    }
    return;
  }
  process.stdout.write(`\n${formatRun(run, c, plan.model.source.path ?? undefined, plan.memory)}\n`);
  if (run.interrupted) process.exitCode = 130;
}

export function formatRun(
  r: RunResult,
  c: ReturnType<typeof colorsFor>,
  baseModel?: string,
  planMemory?: PlanMemoryFigures,
): string {
  const f = (x: number | null) => (x === null ? "-" : x.toFixed(4));
  // An interrupted run may have had no evaluation since the one at its start.
  // A resumed run has no start-of-run evaluation of its own: only the loss it ends with.
  const evalPart =
    r.interrupted && r.evalLoss === r.initialEvalLoss
      ? `eval loss ${f(r.initialEvalLoss)} at the start`
      : r.initialEvalLoss === null
        ? `eval loss ${f(r.evalLoss)}`
        : `eval loss ${f(r.initialEvalLoss)} -> ${f(r.evalLoss)}`;
  const recall = r.probeRecall === null ? "" : `, probe recall ${(r.probeRecall * 100).toFixed(0)}%`;
  const skipped =
    r.skipped > 0
      ? `; skipped ${r.skipped} micro-batch${r.skipped === 1 ? "" : "es"} with a non-finite loss (train.skipNonFinite)`
      : "";
  const lines = [
    `${c.bold(r.interrupted ? "Interrupted" : "Trained")} ${r.steps} step${r.steps === 1 ? "" : "s"} (epoch ${r.epochs.toFixed(2)}): loss ${f(r.loss)}, ${evalPart}${recall}${skipped}`,
    `${Math.round(r.tokensPerSecond)} tokens/s, ${memoryLine(r, planMemory)}`,
    `metrics:    ${r.metricsFile}`,
    `checkpoint: ${r.checkpoint ?? "-"}${r.interrupted ? "  (continue with --resume)" : ""}`,
  ];
  for (const a of r.artefacts) lines.push(`wrote:      ${a}`);
  const chat = r.interrupted ? null : chatCommand(r, baseModel);
  if (chat) lines.push("", `${c.bold("Chat with the result:")}`, `  ${chat}`);
  return lines.join("\n");
}

type PlanMemoryFigures = Pick<Plan["memory"], "peak" | "runtime" | "device">;

/** Devices the plan's estimate is about that are not the process's memory, and the engine's peak there. */
const OWN_MEMORY: Record<string, string> = { wasm: "wasm heap", cuda: "GPU buffers" };

/**
 * The process's peak, measured, beside the plan's estimate of the same thing. Where the plan estimates
 * a memory of its own (the wasm heap, the GPU), that estimate sits beside the engine's measured peak
 * there instead: a process's resident size is not what a wasm-heap or GPU figure counts.
 */
function memoryLine(r: RunResult, plan?: PlanMemoryFigures): string {
  const rss = `peak memory ${formatBytes(r.peakRssBytes)} (the process's resident maximum, measured`;
  if (!plan) return `${rss})`;
  const own = OWN_MEMORY[plan.device.backend];
  if (!own) return `${rss}; the plan estimated ${formatBytes(plan.peak)})`;
  // The cuda engine's buffers exclude the CUDA context (the plan's runtime), which the plan's peak includes.
  const estimate = plan.device.backend === "cuda" ? plan.peak - (plan.runtime ?? 0) : plan.peak;
  const measured =
    r.enginePeakBytes === undefined ? "not measured" : `${formatBytes(r.enginePeakBytes)} at most, measured`;
  return `${rss}); ${own} ${measured}; the plan estimated ${formatBytes(estimate)}`;
}

/** The `sft chat` line for what this run wrote: the merged model, else base + adapter. */
export function chatCommand(
  r: Pick<RunResult, "artefacts" | "outputDir">,
  baseModel?: string,
  sft = sftCommand(),
): string | null {
  const rel = (p: string) => relative(process.cwd(), p) || ".";
  const merged = r.artefacts.find((a) => a.includes(`${sep}model${sep}`));
  const adapter = r.artefacts.find((a) => a.includes(`${sep}adapter${sep}`));
  if (merged) return `${sft} chat --model ${rel(dirname(merged))}`;
  if (adapter && baseModel) return `${sft} chat --model ${rel(baseModel)} --adapter ${rel(dirname(adapter))}`;
  return null;
}

/** `sft run`'s arguments (a recipe run directly by tsx takes the same flags). */
export const runArgs = {
  recipe: {
    type: "positional",
    required: true,
    description: "Path to recipe.ts, or to a plan.json (`sft plan` writes one) to train without the recipe",
  },
  resume: { type: "boolean", description: "Continue from the last checkpoint" },
  overwrite: {
    type: "boolean",
    description: "Start fresh over an earlier run's checkpoints (they are kept in checkpoints.previous*)",
  },
  "max-steps": { type: "string", description: "Stop after N optimizer steps" },
  ...setArg,
} as const satisfies ArgsDef;

export const runCommand = defineCommand({
  meta: { name: "run", description: "Compile a recipe and train it, or train a plan.json" },
  args: runArgs,
  async run({ args, rawArgs }) {
    const sets = readSetFlags("run", rawArgs);
    if (!sets) return;
    await runRecipe(args.recipe, {
      sets,
      resume: args.resume,
      overwrite: args.overwrite,
      ...(args["max-steps"] !== undefined ? { maxSteps: args["max-steps"] } : {}),
    });
  },
});
