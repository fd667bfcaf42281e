// Shared by the native tier's tests: the wasm backend started, whether the tier is active (with the
// reason in the suite's title when not), and deterministic inputs.
import { mulberry32 } from "../../util/mulberry32.ts";
import { initBackend } from "../backend.ts";
import { nativeAddon, nativeStatus } from "./load.ts";

export async function nativeSuite(name: string): Promise<{ skip: boolean; title: string }> {
  await initBackend({ backend: "wasm" });
  const skip = !nativeAddon();
  const reason = nativeStatus().reason ?? "unknown";
  return { skip, title: skip ? `${name} (skipped: the native tier is not active: ${reason})` : name };
}

/** Deterministic values in [-scale, scale). */
export function rand(n: number, seed: number, scale = 1): Float32Array {
  const next = mulberry32(seed);
  return Float32Array.from({ length: n }, () => (next() - 0.5) * 2 * scale);
}
