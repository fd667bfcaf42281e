import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["packages/*/src/**/*.test.ts", "examples/**/*.test.ts"],
    // Once per run: the missing-fixtures notice, and a check that no test wrote into out/.
    globalSetup: ["packages/core/src/testing/global-setup.ts"],
    // tfjs wasm and model tests are CPU-heavy; 2-core CI machines run two forks.
    pool: "forks",
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
