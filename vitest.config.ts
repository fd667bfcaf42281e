import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

const cores = availableParallelism();

export default defineConfig({
  test: {
    include: ["packages/*/src/**/*.test.ts", "examples/**/*.test.ts"],
    // Once per run: the missing-fixtures notice, and a check that no test wrote into out/.
    globalSetup: ["packages/core/src/testing/global-setup.ts"],
    // tfjs wasm and model tests are CPU-heavy and run one wasm thread each under vitest. Vitest's default
    // (cores - 1 forks) would leave one of a 2-core CI machine's cores idle; two forks use both.
    pool: "forks",
    maxWorkers: Math.max(Math.min(cores, 2), cores - 1),
    // The longest test takes about 35 s on a 2-core machine with some load; at a load average of 11 the same
    // tests took 3-6x as long and 120 s timed out. The limit catches hangs; it is not a speed check.
    testTimeout: 300_000,
    hookTimeout: 300_000,
  },
});
