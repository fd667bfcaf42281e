// Loads the addon built by build.mjs, or says why it is not there.
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const here = import.meta.dirname;

/** @returns {{ addon: import("./index.d.ts").NativeAddon } | { reason: string }} */
export function loadNative() {
  const file = join(here, "build", "sftkit_native.node");
  // The last build's verdict wins over whatever file is there.
  const status = buildStatus();
  if (status && !status.ok) return { reason: `not built: ${status.reason ?? "unknown"}` };
  if (!existsSync(file))
    return { reason: "not built (run `node build.mjs` in @sftkit/native, or reinstall)" };
  try {
    return { addon: createRequire(import.meta.url)(file) };
  } catch (e) {
    return { reason: `failed to load ${file}: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** What build.mjs recorded, or null. */
export function buildStatus() {
  try {
    return JSON.parse(readFileSync(join(here, "build", "status.json"), "utf8"));
  } catch {
    return null;
  }
}
