import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["packages/*/src/**/*.test.ts", "examples/**/*.test.ts"],
    // tfjs wasm and model tests are CPU-heavy; 2-core CI machines run two forks.
    pool: "forks",
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
