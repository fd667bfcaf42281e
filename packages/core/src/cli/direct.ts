// `tsx recipe.ts`: a recipe run as the entry module does what `sft run recipe.ts` does.
import { runRecipe } from "./commands/run.ts";

export async function runRecipeFileDirectly(file: string): Promise<void> {
  const args = process.argv.slice(2);
  await runRecipe(file, { resume: args.includes("--resume") });
}
