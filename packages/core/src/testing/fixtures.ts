// Locates `../shared/fixtures` (real third-party data) beside the repo; tests that need it skip where absent.
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");
export const sharedFixturesDir = process.env.SFTKIT_FIXTURES ?? join(repoRoot, "..", "shared", "fixtures");
export const hasSharedFixtures = existsSync(sharedFixturesDir);
export const sharedFixturesSkipReason = `../shared/fixtures not found at ${sharedFixturesDir}; tests on real third-party data are skipped`;

/** Absolute path inside ../shared/fixtures. */
export function fixture(...parts: string[]): string {
  return join(sharedFixturesDir, ...parts);
}
// Under vitest the missing folder is reported once per run, by testing/global-setup.ts.
