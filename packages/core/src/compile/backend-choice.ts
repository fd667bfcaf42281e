// Which backend a run will use, decided without initialising any (plans must be cheap to make).
import { createRequire } from "node:module";
import { availableParallelism, totalmem } from "node:os";
import { WASM_MAX_BYTES } from "./memory.ts";

export interface BackendDecision {
  requested: string;
  chosen: "tensorflow" | "wasm" | "cpu";
  available: string[];
  threads: number;
  reason: string;
  device: { backend: string; bytes: number; note: string };
}

const require = createRequire(import.meta.url);
const resolvable = (pkg: string) => {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
};

export function availableBackends(): ("tensorflow" | "wasm" | "cpu")[] {
  const out: ("tensorflow" | "wasm" | "cpu")[] = [];
  if (resolvable("@tensorflow/tfjs-node-gpu") || resolvable("@tensorflow/tfjs-node")) out.push("tensorflow");
  if (resolvable("@tensorflow/tfjs-backend-wasm")) out.push("wasm");
  out.push("cpu");
  return out;
}

export function decideBackend(
  recipeBackend: string,
  threads: number | undefined,
  env = process.env,
): BackendDecision {
  const fromEnv = env.SFTKIT_BACKEND;
  const requested = fromEnv && fromEnv !== "auto" ? fromEnv : recipeBackend;
  const available = availableBackends();
  let chosen: BackendDecision["chosen"];
  let reason: string;
  if (requested === "auto") {
    chosen = available[0]!;
    reason = `auto: first of tensorflow > wasm > cpu that is installed`;
  } else if ((available as string[]).includes(requested)) {
    chosen = requested as BackendDecision["chosen"];
    reason = fromEnv && fromEnv !== "auto" ? "set by $SFTKIT_BACKEND" : "set by the recipe";
  } else {
    chosen = available[0]!;
    reason = `${requested} is not installed; falling back to ${chosen}`;
  }
  const cores = availableParallelism();
  const machine = totalmem();
  const device =
    chosen === "wasm"
      ? { backend: chosen, bytes: Math.min(WASM_MAX_BYTES, machine), note: "wasm32 heap (at most 4 GiB)" }
      : {
          backend: chosen,
          bytes: machine,
          note:
            chosen === "tensorflow" ? "host memory (GPU memory is not probed at plan time)" : "host memory",
        };
  // $SFTKIT_THREADS wins over the recipe when the engines start (a notebook sets 1): the plan says so too.
  const fromEnvThreads = Number(env.SFTKIT_THREADS);
  const envThreads = Number.isInteger(fromEnvThreads) && fromEnvThreads > 0 ? fromEnvThreads : undefined;
  return { requested, chosen, available, threads: envThreads ?? threads ?? cores, reason, device };
}
