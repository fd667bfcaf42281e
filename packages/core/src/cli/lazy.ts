// A subcommand whose module loads only when it runs or shows its own help: `sft --help` lists names and
// descriptions without importing what the commands need (TensorFlow.js, ts-morph, the native tier).
import type { ArgsDef, CommandDef } from "citty";
import { strict } from "./flags.ts";

export function lazyCommand<T extends ArgsDef>(
  name: string,
  description: string,
  load: () => Promise<CommandDef<T>>,
  options: { variadic?: boolean } = {},
): CommandDef<T> {
  let loaded: Promise<CommandDef<T>> | undefined;
  // strict: unknown flags and extra arguments are errors, never silently ignored.
  const command = () => {
    loaded ??= load().then((c) => strict(c, options));
    return loaded;
  };
  return {
    meta: { name, description },
    args: async () => {
      const args = (await command()).args;
      return ((typeof args === "function" ? await args() : await args) ?? {}) as T;
    },
    run: async (ctx) => (await command()).run?.(ctx),
  };
}
