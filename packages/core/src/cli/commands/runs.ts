import { resolve } from "node:path";
import { defineCommand } from "citty";
import { formatRuns, listRuns } from "../../report/runs.ts";

export const runsCommand = defineCommand({
  meta: {
    name: "runs",
    description: "List the runs under an output root: status, plan hash, steps, final metrics",
  },
  args: {
    dir: { type: "positional", required: false, description: "Output root (default out)" },
    json: { type: "boolean", description: "Print the list as JSON" },
  },
  async run({ args }) {
    const runs = listRuns(resolve(args.dir ?? "out"));
    if (args.json) process.stdout.write(`${JSON.stringify(runs, null, 2)}\n`);
    else process.stdout.write(`${formatRuns(runs)}\n`);
  },
});
