// The `sft` command line: one subcommand per file under ./commands, each loaded only when it runs, so that
// `sft --help` does not load TensorFlow.js, ts-morph or the native tier.
import "./no-color.ts";
import { defineCommand, runMain } from "citty";
import { lazyCommand } from "./lazy.ts";

const main = defineCommand({
  meta: {
    name: "sft",
    description: "Typed supervised fine-tuning recipes, compiled to a plan and run on TensorFlow.js",
  },
  subCommands: {
    plan: lazyCommand("plan", "Compile a recipe and print its plan (no training)", () =>
      import("./commands/plan.ts").then((m) => m.planCommand),
    ),
    run: lazyCommand("run", "Compile a recipe and train it, or train a plan.json", () =>
      import("./commands/run.ts").then((m) => m.runCommand),
    ),
    data: lazyCommand(
      "data",
      "Rendered samples with their trained tokens marked, per-source statistics, the data-quality report",
      () => import("./commands/data.ts").then((m) => m.dataCommand),
    ),
    export: lazyCommand(
      "export",
      "Write a config + prepared data for Axolotl or TRL + accelerate (multi-GPU, multi-node)",
      () => import("./commands/export.ts").then((m) => m.exportCommand),
    ),
    generate: lazyCommand(
      "generate",
      "Generate text with a model folder (its chat template when it has one)",
      () => import("./commands/generate.ts").then((m) => m.generateCommand),
    ),
    chat: lazyCommand(
      "chat",
      "Chat with a model folder (and an adapter) through its chat template, replies streamed",
      () => import("./commands/chat.ts").then((m) => m.chatCommand),
    ),
    doctor: lazyCommand("doctor", "Which backends load, threads, versions, how to enable the GPU", () =>
      import("./commands/doctor.ts").then((m) => m.doctorCommand),
    ),
    init: lazyCommand("init", "Start a project of your own: a recipe on a tiny model, data, README", () =>
      import("./commands/init.ts").then((m) => m.initCommand),
    ),
    sweep: lazyCommand(
      "sweep",
      "Compile every trial of a sweep, then train them in turn (or export them)",
      () => import("./commands/sweep.ts").then((m) => m.sweepCommand),
    ),
    compare: lazyCommand(
      "compare",
      "Runs side by side: differing values, losses, probe recall, speed, memory",
      () => import("./commands/compare.ts").then((m) => m.compareCommand),
      { variadic: true },
    ),
    runs: lazyCommand("runs", "The runs under an output root, with status and final metrics", () =>
      import("./commands/runs.ts").then((m) => m.runsCommand),
    ),
  },
});

await runMain(main);
