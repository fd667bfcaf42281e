// The `sft` command line: one subcommand per file under ./commands.
import { defineCommand, runMain } from "citty";
import { doctorCommand } from "./commands/doctor.ts";
import { planCommand } from "./commands/plan.ts";
import { runCommand } from "./commands/run.ts";
import { strict } from "./flags.ts";

const main = defineCommand({
  meta: {
    name: "sft",
    description: "Typed supervised fine-tuning recipes, compiled to a plan and run on TensorFlow.js",
  },
  subCommands: {
    // strict: unknown flags and extra arguments are errors, never silently ignored.
    plan: strict(planCommand),
    run: strict(runCommand),
    data: () => import("./commands/data.ts").then((m) => strict(m.dataCommand)),
    export: () => import("./commands/export.ts").then((m) => strict(m.exportCommand)),
    generate: () => import("./commands/generate.ts").then((m) => strict(m.generateCommand)),
    doctor: strict(doctorCommand),
    sweep: () => import("./commands/sweep.ts").then((m) => strict(m.sweepCommand)),
    compare: () => import("./commands/compare.ts").then((m) => strict(m.compareCommand, { variadic: true })),
    runs: () => import("./commands/runs.ts").then((m) => strict(m.runsCommand)),
  },
});

await runMain(main);
