// Strict command lines: citty ignores flags it does not know and extra arguments, so `--resum` would start a
// fresh run. Every subcommand goes through `strict`, which refuses them with a suggestion instead.
import type { ArgsDef, CommandDef } from "citty";
import { closest } from "../recipe/suggest.ts";
import { reportFailure } from "./failure.ts";

const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const asList = (a: unknown): string[] => (Array.isArray(a) ? a : typeof a === "string" ? [a] : []);

/** Problems with `rawArgs` against a command's declared args: unknown flags (with a suggestion), extras. */
export function argProblems(
  def: ArgsDef,
  rawArgs: readonly string[],
  opts: { variadic?: boolean } = {},
): string[] {
  const takesValue = new Set<string>();
  const known = new Set<string>(["help", "h"]);
  const canonical: string[] = [];
  let positionals = 0;
  for (const [name, a] of Object.entries(def)) {
    if (a.type === "positional") {
      positionals++;
      continue;
    }
    canonical.push(`--${name}`);
    const names = [name, camel(name), kebab(name), ...asList((a as { alias?: unknown }).alias)];
    for (const n of names) {
      known.add(n);
      if (a.type === "boolean") known.add(`no-${n}`);
      if (a.type === "string" || a.type === "enum") takesValue.add(n);
    }
  }
  const problems: string[] = [];
  let seen = 0;
  let flagsEnded = false;
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i]!;
    if (arg === "--" && !flagsEnded) {
      flagsEnded = true;
      continue;
    }
    if (!flagsEnded && arg.startsWith("-") && arg !== "-") {
      const name = arg.replace(/^--?/, "").split("=")[0]!;
      if (!known.has(name)) {
        const guess = closest(`--${name}`, canonical);
        problems.push(`unknown flag ${arg.split("=")[0]}${guess ? ` (did you mean ${guess}?)` : ""}`);
      } else if (takesValue.has(name) && !arg.includes("=")) i++;
      continue;
    }
    if (++seen > positionals && !opts.variadic) problems.push(`unexpected argument "${arg}"`);
  }
  return problems;
}

/**
 * The command, refusing unknown flags and extra arguments (any number of positionals with `variadic`) (exit 1, every problem on stderr) before it runs;
 * an ordinary failure while it runs (cli/failure.ts) ends it with one line instead of a stack trace.
 */
export function strict<T extends ArgsDef>(
  cmd: CommandDef<T>,
  opts: { variadic?: boolean } = {},
): CommandDef<T> {
  const name = (cmd.meta as { name?: string } | undefined)?.name ?? "";
  return {
    ...cmd,
    async run(ctx) {
      const problems = argProblems((cmd.args ?? {}) as ArgsDef, ctx.rawArgs, opts);
      if (problems.length) {
        const lines = problems.map((p) => `sft ${name}: ${p}\n`).join("");
        process.stderr.write(`${lines}(sft ${name} --help lists the flags)\n`);
        process.exitCode = 1;
        return;
      }
      try {
        return await cmd.run?.(ctx);
      } catch (e) {
        if (!reportFailure(name, e)) throw e;
      }
    },
  };
}
