import { join, relative, resolve } from "node:path";
import { defineCommand } from "citty";
import { type ExportTarget, exportTargets } from "../../export/types.ts";
import { formatDiagnostics } from "../../recipe/diagnostics.ts";
import { compareRuns, comparisonHtml, comparisonJson, comparisonText } from "../../report/compare.ts";
import {
  type CompiledTrial,
  exportSweep,
  loadSweepFile,
  runSweep,
  sweepName,
  sweepRoot,
} from "../../train/sweep.ts";
import { writeFileAtomic } from "../../util/atomic-write.ts";
import { colorsFor } from "../../util/format.ts";
import { readMetric } from "./compare.ts";

const rel = (p: string) => relative(process.cwd(), p) || ".";

/** Every problem of every trial, grouped by trial; true when there were none. */
function reportTrials(compiled: CompiledTrial[]): boolean {
  const color = Boolean(process.stderr.isTTY) && !process.env.NO_COLOR;
  const bad = compiled.filter((c) => c.blocking.length > 0 || !c.result.plan);
  for (const c of bad) {
    const values = c.trial.overrides.map((o) => `${o.path}=${JSON.stringify(o.value)}`).join(", ");
    process.stderr.write(`trial ${c.trial.id} (${values}):\n${formatDiagnostics(c.blocking, { color })}\n\n`);
  }
  if (bad.length)
    process.stderr.write(
      `${bad.length} of ${compiled.length} trials have problems; nothing was run (fix them, or acknowledge a memory warning in the recipe)\n`,
    );
  return bad.length === 0;
}

export const sweepCommand = defineCommand({
  meta: {
    name: "sweep",
    description:
      "Compile every trial of a sweep (defineSweep) and report every problem, then train the trials one by one",
  },
  args: {
    sweep: {
      type: "positional",
      required: true,
      description: "Path to sweep.ts (export default defineSweep(...))",
    },
    export: {
      type: "string",
      description: `Write one config per trial instead: ${exportTargets.join(" | ")}`,
    },
    out: {
      type: "string",
      description: "With --export: the output folder (default: the sweep's folder/<target>)",
    },
    "max-steps": { type: "string", description: "Stop each trial after N optimizer steps" },
    overwrite: { type: "boolean", description: "Start every trial over, finished ones too" },
    metric: {
      type: "string",
      description: "The report's best trial by: eval-loss (default), train-loss, ...",
    },
    plan: { type: "boolean", description: "Compile and report only; train nothing" },
  },
  async run({ args }) {
    const metric = readMetric("sweep", args.metric);
    if (!metric) return;
    const loaded = await loadSweepFile(args.sweep);
    if (!loaded.ok) {
      process.stderr.write(`${formatDiagnostics(loaded.diagnostics)}\n`);
      process.exitCode = 1;
      return;
    }
    const sweep = loaded.sweep;
    const root = sweepRoot(sweep);
    if (args.export !== undefined) {
      if (!(exportTargets as readonly string[]).includes(args.export)) {
        process.stderr.write(
          `sft sweep: unknown --export \`${args.export}\` (use ${exportTargets.join(" or ")})\n`,
        );
        process.exitCode = 1;
        return;
      }
      const out = resolve(args.out ?? join(root, args.export));
      const result = await exportSweep(sweep, args.export as ExportTarget, out);
      if (!reportTrials(result.compiled)) {
        process.exitCode = 1;
        return;
      }
      process.stdout.write(
        `Wrote ${result.written.length} ${args.export} configs:\n${result.written.map((w) => `  ${rel(w)}\n`).join("")}`,
      );
      return;
    }
    const maxSteps = args["max-steps"] === undefined ? undefined : Number(args["max-steps"]);
    if (maxSteps !== undefined && !(Number.isInteger(maxSteps) && maxSteps > 0)) {
      process.stderr.write(`sft sweep: --max-steps must be a positive integer, got "${args["max-steps"]}"\n`);
      process.exitCode = 1;
      return;
    }
    const c = colorsFor(process.stdout);
    const run = await runSweep(sweep, {
      ...(maxSteps !== undefined ? { maxSteps } : {}),
      ...(args.overwrite ? { overwrite: true } : {}),
      ...(args.plan ? { planOnly: true } : {}),
      onTrial: ({ trial, result, error }) => {
        const values = trial.overrides.map((o) => `${o.path}=${JSON.stringify(o.value)}`).join(", ");
        if (!result && error === undefined)
          process.stdout.write(`\n${c.bold(`trial ${trial.id}`)} ${values}\n`);
        else if (error !== undefined) process.stdout.write(`trial ${trial.id} failed: ${trial.error}\n`);
        else
          process.stdout.write(
            `trial ${trial.id} ${trial.status}: ${result!.steps} steps, eval loss ${result!.evalLoss?.toFixed(4) ?? "-"}\n`,
          );
      },
    });
    if (!reportTrials(run.compiled)) {
      process.exitCode = 1;
      return;
    }
    if (args.plan) {
      process.stdout.write(`${run.compiled.length} trials compiled into ${rel(root)} (nothing trained)\n`);
      return;
    }
    const dirs = run.compiled.map((t) => t.dir);
    const comparison = compareRuns(dirs, metric);
    const html = join(root, "report.html");
    const json = join(root, "report.json");
    await writeFileAtomic(html, await comparisonHtml(comparison, `Sweep: ${sweepName(sweep)}`));
    await writeFileAtomic(json, `${JSON.stringify(comparisonJson(comparison), null, 2)}\n`);
    process.stdout.write(`\n${comparisonText(comparison)}\n\nreport: ${rel(html)}\n        ${rel(json)}\n`);
    const failed = run.state?.trials.filter((t) => t.status === "failed") ?? [];
    if (run.interrupted) process.exitCode = 130;
    else if (failed.length) {
      process.stderr.write(
        `${failed.length} trial(s) failed (see ${rel(join(root, "sweep.json"))}); run the sweep again to retry them\n`,
      );
      process.exitCode = 1;
    }
  },
});
