// `pnpm bench [name...]`: runs each bench/<name>.bench.ts in its own process (so peak memory is its own).
// Benchmarks print figures; they are outside the test suite and assert nothing about speed.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";

const dir = import.meta.dirname;
const wanted = process.argv.slice(2);
const benches = readdirSync(dir)
  .filter((f) => f.endsWith(".bench.ts"))
  .map((f) => f.replace(/\.bench\.ts$/, ""))
  .filter((name) => wanted.length === 0 || wanted.includes(name));

if (benches.length === 0) {
  console.error(`no benchmark matches ${wanted.join(", ")}`);
  process.exit(1);
}

const runner = `const m = await import(${JSON.stringify("")} + process.argv[1]); await m.default();`;
let failed = 0;
for (const name of benches) {
  console.log(`\n=== bench ${name} ===`);
  const file = join(dir, `${name}.bench.ts`);
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", runner, file], {
    stdio: "inherit",
    env: process.env,
  });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
