// The `sft` command line: one subcommand per file under ./commands.
import { defineCommand, runMain } from "citty";
import { doctorCommand } from "./commands/doctor.ts";
import { planCommand } from "./commands/plan.ts";
import { runCommand } from "./commands/run.ts";

const main = defineCommand({
  meta: {
    name: "sft",
    description: "Typed supervised fine-tuning recipes, compiled to a plan and run on TensorFlow.js",
  },
  subCommands: {
    plan: planCommand,
    run: runCommand,
    data: () => import("./commands/data.ts").then((m) => m.dataCommand),
    export: () => import("./commands/export.ts").then((m) => m.exportCommand),
    generate: () => import("./commands/generate.ts").then((m) => m.generateCommand),
    doctor: doctorCommand,
  },
});

await runMain(main);
