// The optional native tier (@sftkit/native): loaded once, active only on the wasm backend, where
// its kernels read and write the wasm heap in place. SFTKIT_NATIVE=0 keeps pure wasm.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { withRestore } from "../../util/scoped.ts";
import { withoutTier } from "../ops/registry.ts";
import type { NativeAddon, NativeInfo } from "./types.ts";

export interface NativeStatus {
  /** Kernels are registered and used on the wasm backend. */
  active: boolean;
  /** Why not, when not active. */
  reason?: string;
  info?: NativeInfo;
  blas?: string;
}

let addon: NativeAddon | null = null;
let status: NativeStatus = { active: false, reason: "not loaded (the wasm backend was not started)" };

interface NativePackage {
  loadNative(): { addon: NativeAddon } | { reason: string };
  buildStatus(): { blas?: string } | null;
}

/** Imports the addon (computed name: an optional dependency); null with a reason when absent. */
export async function importNative(): Promise<{ addon: NativeAddon; blas?: string } | { reason: string }> {
  const name = "@sftkit/native";
  let pkg: NativePackage;
  try {
    pkg = (await import(/* @vite-ignore */ name)) as NativePackage;
  } catch {
    return { reason: "@sftkit/native is not installed (an optional dependency)" };
  }
  const r = pkg.loadNative();
  if ("reason" in r) return r;
  return { addon: r.addon, blas: pkg.buildStatus()?.blas };
}

/** Called by the wasm backend's start-up: loads the addon and hands it to `register`. */
export async function activateNative(
  threads: number,
  register: (addon: NativeAddon) => void,
  env: NodeJS.ProcessEnv = process.env,
): Promise<NativeStatus> {
  if (env.SFTKIT_NATIVE === "0") {
    status = { active: false, reason: "turned off (SFTKIT_NATIVE=0)" };
    return status;
  }
  const r = await importNative();
  if ("reason" in r) {
    status = { active: false, reason: r.reason };
    return status;
  }
  try {
    r.addon.setThreads(threads);
    register(r.addon);
  } catch (e) {
    status = { active: false, reason: `registration failed: ${e instanceof Error ? e.message : String(e)}` };
    return status;
  }
  addon = r.addon;
  status = { active: true, info: r.addon.info(), blas: r.blas };
  return status;
}

export function nativeStatus(): NativeStatus {
  return status;
}

/** The addon when the current backend is wasm and the tier is active, else null. */
export function nativeAddon(): NativeAddon | null {
  return addon && tf.getBackend() === "wasm" ? addon : null;
}

/** Tests: run fn with the tier switched off (the ops' reference formulations), restoring it after. */
export function withoutNative<T>(fn: () => T): T {
  const saved = addon;
  addon = null;
  const restore = () => {
    addon = saved;
  };
  return withRestore(() => withoutTier("native", fn), restore);
}

/**
 * Whether a run would get the native tier, decided without loading it (plans stay cheap): the
 * package resolves and its build recorded success, and SFTKIT_NATIVE is not 0.
 */
export function nativeAvailability(env: NodeJS.ProcessEnv = process.env): {
  active: boolean;
  reason: string;
} {
  if (env.SFTKIT_NATIVE === "0") return { active: false, reason: "turned off (SFTKIT_NATIVE=0)" };
  let dir: string;
  try {
    dir = dirname(createRequire(import.meta.url).resolve("@sftkit/native/package.json"));
  } catch {
    return { active: false, reason: "@sftkit/native is not installed (an optional dependency)" };
  }
  try {
    const s = JSON.parse(readFileSync(join(dir, "build", "status.json"), "utf8")) as {
      ok: boolean;
      reason?: string;
      blas?: string;
    };
    return s.ok
      ? { active: true, reason: `built against ${s.blas ?? "a BLAS"}` }
      : { active: false, reason: `not built: ${s.reason ?? "unknown"}` };
  } catch {
    return { active: false, reason: "not built (no build/status.json; reinstall to build it)" };
  }
}
