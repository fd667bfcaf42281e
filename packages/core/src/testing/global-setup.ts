// Vitest's global setup (vitest.config.ts): runs once per test run, in the main process.
// - Says once, not once per test file, that ../shared/fixtures is missing.
// - Fails the run when a test wrote into the repository's out/, which holds the user's own runs.
import { join } from "node:path";
import { hasSharedFixtures, repoRoot, sharedFixturesSkipReason } from "./fixtures.ts";
import { watchTree } from "./tree-stamp.ts";

export default function setup(): () => void {
  if (!hasSharedFixtures) console.warn(`[sftkit] ${sharedFixturesSkipReason}`);
  const out = join(repoRoot, "out");
  const changed = watchTree(out);
  return () => {
    const changes = changed();
    if (changes.length === 0) return;
    const shown = changes.slice(0, 20).map((c) => `  ${c}`);
    if (changes.length > shown.length) shown.push(`  ... and ${changes.length - shown.length} more`);
    // Vitest only logs an error thrown here; the exit code is what fails the run (and CI).
    console.error(
      `[sftkit] FAIL: the test run changed ${out} (tests must write only to os.tmpdir(); or did a ` +
        `run of your own write there meanwhile?):\n${shown.join("\n")}`,
    );
    process.exitCode = 1;
  };
}
