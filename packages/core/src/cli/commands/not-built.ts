import { defineCommand } from "citty";

/** A registered subcommand whose feature has not landed: it says so plainly and exits 2. */
export function notBuiltCommand(name: string, description: string, usage: string) {
  return defineCommand({
    meta: { name, description: `${description} (not built yet)` },
    async run() {
      process.stderr.write(`sft ${name}: not built yet. Usage once it lands: ${usage}\n`);
      process.exitCode = 2;
    },
  });
}
