// Writes the cuda engine's golden files (packages/core/src/engines/cuda/goldens): one AdamW step per
// method on the CPU by the tfjs engine. Run: npx tsx packages/core/scripts/gen-cuda-goldens.ts
import { mkdirSync, statSync } from "node:fs";
import {
  computeGolden,
  GOLDEN_CASES,
  GOLDEN_DIR,
  goldenPlan,
  writeGolden,
} from "../src/engines/cuda/golden.ts";
import { createTfjsEngine } from "../src/engines/tfjs/engine.ts";
import { initBackend } from "../src/model/backend.ts";

await initBackend();
mkdirSync(GOLDEN_DIR, { recursive: true });
for (const c of GOLDEN_CASES) {
  const g = await computeGolden(c.name, c.method, await createTfjsEngine(goldenPlan(c.method)));
  const files = writeGolden(GOLDEN_DIR, g);
  const bytes = files.reduce((n, f) => n + statSync(f).size, 0);
  console.log(
    `${c.name}: loss ${(g.lossSum / g.trainedTokens).toFixed(4)}, ${g.tensors.length} tensors, ${bytes} bytes`,
  );
}
