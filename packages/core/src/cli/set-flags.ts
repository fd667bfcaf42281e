// `--set path=value`, taken by every command that compiles a recipe (plan, run, data, export).
import type { ArgsDef } from "citty";
import { type SetFlag, setFlags } from "../recipe/overrides.ts";

export const setArg = {
  set: {
    type: "string",
    description:
      "Set a recipe value, checked against the schema: --set train.learningRate=2e-4 (repeatable; the run gets its own output folder, see docs/sweeps.md)",
  },
} as const satisfies ArgsDef;

/** The command's `--set` flags, or null (exit code 1, each problem on stderr) when one is not path=value. */
export function readSetFlags(command: string, rawArgs: readonly string[]): SetFlag[] | null {
  const { sets, problems } = setFlags(rawArgs);
  if (problems.length === 0) return sets;
  process.stderr.write(problems.map((p) => `sft ${command}: ${p}\n`).join(""));
  process.exitCode = 1;
  return null;
}
