/**
 * A 2 x 2 sweep over the quickstart: learning rate x LoRA rank, each trial its own run folder.
 *
 * Run:   pnpm sft sweep examples/quickstart/sweep.ts --max-steps 20   (out/sweep/NN-.../, report.html)
 *        pnpm sft sweep examples/quickstart/sweep.ts --plan           (compile every trial, train nothing)
 */
import { defineSweep } from "@sftkit/core";
import recipe from "./recipe.ts";

export default defineSweep(recipe, {
  axes: {
    "train.learningRate": [1e-3, 5e-3],
    "method.rank": [4, 8],
  },
  // The trials' folders: out/sweep/ at the repository root, beside out/quickstart.
  outputDir: "../../out/sweep",
});
