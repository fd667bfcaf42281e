// `tsx recipe.ts`: a recipe run as the entry module does what `sft run recipe.ts` does.
import { runRecipe } from "./commands/run.ts";

export async function runRecipeFileDirectly(file: string): Promise<void> {
  const args = process.argv.slice(2);
  const at = args.indexOf("--max-steps");
  const flag = args.find((a) => a.startsWith("--max-steps="));
  // A flag without its number is passed on as "", which runRecipe rejects in one line.
  const maxSteps = flag ? flag.slice("--max-steps=".length) : at >= 0 ? (args[at + 1] ?? "") : undefined;
  await runRecipe(file, {
    resume: args.includes("--resume"),
    ...(maxSteps !== undefined ? { maxSteps } : {}),
  });
}
