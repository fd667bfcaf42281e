// Threads for tfjs-backend-wasm under Node. The backend turns them off there because it starts its
// pthread workers from blob: URLs (Node's Worker rejects them) and sizes its pool from os.cpus()/2.
// We serve the worker script from a file, hand workers the shipped main script by path, and report
// enough CPUs while the backend initialises.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import { dirname, join } from "node:path";
import { writeFileAtomicSync } from "../util/atomic-write.ts";

const require = createRequire(import.meta.url);

let workerFile: string | null = null;

/** Writes (once) the pthread worker script to a file and returns its path. */
function prepareWorkerFile(): string {
  if (workerFile) return workerFile;
  const out = join(dirname(require.resolve("@tensorflow/tfjs-backend-wasm")), "..", "wasm-out");
  const mainJs = join(out, "tfjs-backend-wasm-threaded-simd.js");
  const { wasmWorkerContents } = require(join(out, "tfjs-backend-wasm-threaded-simd.worker.js")) as {
    wasmWorkerContents: string;
  };
  // The worker gets the main script as a Blob it cannot import in Node: swap in the file path.
  const prelude =
    `"use strict";{const port=require("worker_threads").parentPort;const on=port.on.bind(port);` +
    `port.on=(ev,fn)=>on(ev,ev==="message"?(d)=>{if(d&&d.cmd==="load"&&typeof d.urlOrBlob!=="string")` +
    `d.urlOrBlob=${JSON.stringify(mainJs)};fn(d)}:fn);}\n`;
  // As tfjs does before making its Blob: keep "\n" escapes inside the script's string literals.
  const body = wasmWorkerContents.replace(/^"use strict";/, "").replace(/\n/g, "\\n");
  const text = prelude + body;
  const hash = createHash("sha256").update(text).digest("hex").slice(0, 16);
  const file = join(os.tmpdir(), `sftkit-tfjs-wasm-worker-${hash}.cjs`);
  if (!existsSync(file)) writeFileAtomicSync(file, text);
  workerFile = file;
  return file;
}

let urlPatched = false;

/**
 * Prepares the process for the threaded SIMD wasm binary; call before the backend initialises.
 * Returns a function to call once it has (restores os.cpus and worker_threads.Worker).
 */
export function enableWasmThreads(threads: number): () => void {
  const file = prepareWorkerFile();
  if (!urlPatched) {
    const original = URL.createObjectURL.bind(URL);
    URL.createObjectURL = ((obj: Blob) =>
      obj instanceof Blob && obj.type === "application/javascript"
        ? file
        : original(obj)) as typeof URL.createObjectURL;
    urlPatched = true;
  }
  // Workers inherit the parent's execArgv (--eval, --input-type, loaders), which breaks or slows
  // them; the worker script is plain CommonJS and needs none.
  const wt = require("node:worker_threads") as typeof import("node:worker_threads");
  const RealWorker = wt.Worker;
  class PlainWorker extends RealWorker {
    constructor(file: string | URL, opts: import("node:worker_threads").WorkerOptions = {}) {
      super(file, { ...opts, execArgv: [] });
      this.unref();
    }
    // Emscripten refs a worker while its pthread runs; the pool's threads run for good and would
    // keep the process from ever exiting.
    override ref(): void {}
  }
  wt.Worker = PlainWorker;
  const realCpus = os.cpus;
  // The backend sizes its thread pool as cores / 2.
  os.cpus = () => {
    const c = realCpus();
    return Array.from({ length: 2 * threads }, (_, i) => c[i % c.length]!);
  };
  return () => {
    os.cpus = realCpus;
    wt.Worker = RealWorker;
  };
}
