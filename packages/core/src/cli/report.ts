// Printing diagnostics from a compile, shared by the commands that compile a recipe.
import type { CompileResult } from "../compile/compile.ts";
import { formatDiagnostics } from "../recipe/diagnostics.ts";
import { colorsFor } from "../util/format.ts";

/** Prints diagnostics to stderr; returns false (and sets exit code 1) when the recipe has errors. */
export function reportDiagnostics(result: CompileResult): boolean {
  const color =
    colorsFor(process.stderr) !== undefined && Boolean(process.stderr.isTTY) && !process.env.NO_COLOR;
  if (result.diagnostics.length)
    process.stderr.write(`${formatDiagnostics(result.diagnostics, { color })}\n\n`);
  if (!result.plan) {
    process.exitCode = 1;
    return false;
  }
  return true;
}
