// How the user started `sft`, so the commands we print can be pasted back as they are: `pnpm sft ...` in a pnpm
// project, `npx sft ...` under npm, `yarn sft ...` under yarn, plain `sft ...` otherwise (a global install).
export function sftCommand(env: NodeJS.ProcessEnv = process.env): string {
  const agent = env.npm_config_user_agent ?? "";
  if (agent.startsWith("pnpm/")) return "pnpm sft";
  if (agent.startsWith("yarn/")) return "yarn sft";
  if (agent.startsWith("npm/")) return "npx sft";
  return "sft";
}
