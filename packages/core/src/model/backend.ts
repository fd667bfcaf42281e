// Backend choice: tensorflow (if its optional package is importable) > wasm > cpu; overridable.
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import "./gradients.ts";
import { activateNative, registerNativeKernels } from "./native/index.ts";
import { registerWasmKernels } from "./wasm-kernels.ts";
import { enableWasmThreads } from "./wasm-threads.ts";

export type BackendName = "tensorflow" | "wasm" | "cpu";
export type BackendChoice = BackendName | "auto";

export interface BackendInfo {
  backend: string;
  threads: number;
  simd: boolean;
}

export class BackendError extends Error {
  override name = "BackendError";
}

const CHOICES: readonly BackendChoice[] = ["auto", "tensorflow", "wasm", "cpu"];

let current: BackendInfo | null = null;
let wasmConfigured = false;

async function tryTensorflow(): Promise<boolean> {
  // Optional native packages: never required, so imported by a computed name.
  for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
    try {
      await import(/* @vite-ignore */ pkg);
      if (await tf.setBackend("tensorflow")) return true;
    } catch {
      // not installed, or libtensorflow missing: fall through
    }
  }
  return false;
}

async function tryWasm(threads: number): Promise<boolean> {
  try {
    const wasm = await import("@tensorflow/tfjs-backend-wasm");
    const require = createRequire(import.meta.url);
    // Load the .wasm binaries from node_modules, never from the network.
    const dist = dirname(require.resolve("@tensorflow/tfjs-backend-wasm"));
    let restore = () => {};
    if (!wasmConfigured) {
      wasm.setWasmPaths(`${join(dist)}/`);
      if (threads > 1) {
        try {
          restore = enableWasmThreads(threads);
          tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", true);
          wasm.setThreadsCount(threads);
        } catch {
          // Threads are an optimisation: fall back to one thread.
          restore();
          restore = () => {};
        }
      }
      wasmConfigured = true;
    }
    const events = ["uncaughtException", "unhandledRejection"];
    const before = events.map((e) => new Set<unknown>(process.listeners(e as "uncaughtException")));
    try {
      const ok = await tf.setBackend("wasm");
      // Our kernels (wasm-kernels.ts); SFTKIT_WASM_KERNELS=0 keeps tfjs's own, for comparison.
      if (ok && process.env.SFTKIT_WASM_KERNELS !== "0") registerWasmKernels();
      // The optional native tier (@sftkit/native) replaces the heavy kernels where it built.
      if (ok) await activateNative(wasm.getThreadsCount(), registerNativeKernels);
      return ok;
    } finally {
      restore();
      // Emscripten adds handlers that rethrow, so any later uncaught error prints its whole
      // one-line script as the source line; they do nothing else.
      events.forEach((e, i) => {
        for (const l of process.listeners(e as "uncaughtException"))
          if (!before[i]!.has(l)) process.removeListener(e, l);
      });
    }
  } catch {
    return false;
  }
}

/**
 * The wasm backend's heap (its WebAssembly memory), when wasm is the active backend: it only grows, so its
 * size is the high-water mark of what the backend held, the figure the plan's wasm estimate is about.
 */
export function wasmHeapBytes(): number | null {
  if (tf.getBackend() !== "wasm") return null;
  const heap = (tf.backend() as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8;
  return heap ? heap.buffer.byteLength : null;
}

async function wasmThreads(): Promise<number> {
  const wasm = await import("@tensorflow/tfjs-backend-wasm");
  return wasm.getThreadsCount();
}

async function tryCpu(): Promise<boolean> {
  await import("@tensorflow/tfjs-backend-cpu");
  const ok = await tf.setBackend("cpu");
  // Its first write prints a banner recommending tfjs-node; `sft doctor` covers that advice.
  const cpu = tf.backend() as unknown as { firstUse?: boolean };
  if (ok && "firstUse" in cpu) cpu.firstUse = false;
  return ok;
}

/** Threads: the argument, else $SFTKIT_THREADS, else the core count (1 under vitest: tests stay light). */
function threadCount(arg: number | undefined, env: NodeJS.ProcessEnv): number {
  if (arg !== undefined) {
    if (!Number.isInteger(arg) || arg < 1)
      throw new BackendError(`threads must be a positive integer, got ${arg}`);
    return arg;
  }
  const v = env.SFTKIT_THREADS;
  if (v !== undefined && v !== "") {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1)
      throw new BackendError(`SFTKIT_THREADS must be a positive integer, got "${v}"`);
    return n;
  }
  return env.VITEST ? 1 : availableParallelism();
}

function parseChoice(v: string | undefined, where: string): BackendChoice | undefined {
  if (v === undefined || v === "") return undefined;
  if ((CHOICES as readonly string[]).includes(v)) return v as BackendChoice;
  throw new BackendError(`${where}: unknown backend "${v}" (expected one of ${CHOICES.join(", ")})`);
}

/**
 * Selects and initialises a backend. Order of precedence: `opts.backend`, then `$SFTKIT_BACKEND`,
 * then auto (tensorflow > wasm > cpu). An explicitly requested backend that cannot load is an error.
 * wasm threads are fixed by the first initialisation in a process.
 */
export async function initBackend(
  opts: { backend?: BackendChoice; threads?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<BackendInfo> {
  const env = opts.env ?? process.env;
  const choice =
    parseChoice(opts.backend, "backend option") ??
    parseChoice(env.SFTKIT_BACKEND, "SFTKIT_BACKEND") ??
    "auto";
  const requestedThreads = threadCount(opts.threads, env);
  if (current && (choice === "auto" || choice === current.backend)) {
    if (tf.getBackend() !== current.backend) await tf.setBackend(current.backend);
    return current;
  }
  const order: BackendName[] = choice === "auto" ? ["tensorflow", "wasm", "cpu"] : [choice];
  for (const name of order) {
    const ok =
      name === "tensorflow"
        ? await tryTensorflow()
        : name === "wasm"
          ? await tryWasm(requestedThreads)
          : await tryCpu();
    if (!ok) continue;
    await tf.ready();
    let simd = false;
    let threads = 1;
    if (name === "wasm") {
      simd = Boolean(await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"));
      threads = await wasmThreads();
    } else if (name === "tensorflow") {
      threads = requestedThreads;
    }
    current = { backend: name, threads, simd };
    return current;
  }
  if (choice === "tensorflow")
    throw new BackendError(
      'backend "tensorflow" needs @tensorflow/tfjs-node or @tensorflow/tfjs-node-gpu, which is not installed',
    );
  throw new BackendError(`backend "${choice}" could not be initialised`);
}

/** The backend initialised last, or null. */
export function currentBackend(): BackendInfo | null {
  return current;
}
