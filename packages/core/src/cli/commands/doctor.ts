import { createRequire } from "node:module";
import { arch, availableParallelism, platform, totalmem } from "node:os";
import { defineCommand } from "citty";
import { availableBackends } from "../../compile/backend-choice.ts";
import { listEngines } from "../../engines/index.ts";
import { colorsFor, formatBytes } from "../../util/format.ts";

const require = createRequire(import.meta.url);

function versionOf(pkg: string): string | null {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return null;
  }
}

/** Tries to initialise a backend and run a small matmul; returns the error text when it fails. */
async function probe(backend: "tensorflow" | "wasm" | "cpu"): Promise<{ ok: boolean; detail: string }> {
  try {
    const { initBackend } = await import("../../model/backend.ts");
    const tf = await import("@tensorflow/tfjs-core");
    const info = await initBackend({ backend });
    const start = performance.now();
    const a = tf.randomNormal([256, 256]);
    const b = tf.matMul(a, a);
    await b.data();
    a.dispose();
    b.dispose();
    return {
      ok: true,
      detail: `${info.threads} thread(s)${info.simd ? ", SIMD" : ""}, 256² matmul ${(performance.now() - start).toFixed(1)} ms`,
    };
  } catch (e) {
    return { ok: false, detail: (e as Error).message.split("\n")[0] ?? "failed" };
  }
}

export const doctorCommand = defineCommand({
  meta: { name: "doctor", description: "Which backends load, threads, versions, how to enable the GPU" },
  args: { json: { type: "boolean", description: "Print JSON" } },
  async run({ args }) {
    const installed = availableBackends();
    const backends: Record<string, { installed: boolean; ok: boolean; detail: string }> = {};
    for (const name of ["tensorflow", "wasm", "cpu"] as const) {
      if (!installed.includes(name)) {
        backends[name] = { installed: false, ok: false, detail: "not installed" };
        continue;
      }
      backends[name] = { installed: true, ...(await probe(name)) };
    }
    // The wasm probe above started the backend, which loads the native tier where it is built.
    const { nativeStatus, nativeAvailability } = await import("../../model/native/load.ts");
    const loaded = nativeStatus();
    const native = loaded.active
      ? {
          active: true,
          detail:
            `${loaded.blas ?? "BLAS"} · ${loaded.info?.threads ?? 1} thread(s) · ${loaded.info?.blasConfig ?? ""}`.trim(),
        }
      : {
          active: false,
          detail: backends.wasm?.ok ? (loaded.reason ?? "not active") : nativeAvailability().reason,
        };
    const engines = listEngines().map(({ name, available, reason }) => ({ name, available, reason }));
    const report = {
      node: process.version,
      platform: `${platform()} ${arch()}`,
      cores: availableParallelism(),
      memory: totalmem(),
      versions: Object.fromEntries(
        [
          "@sftkit/core",
          "@tensorflow/tfjs-core",
          "@tensorflow/tfjs-backend-wasm",
          "@tensorflow/tfjs-node",
          "@tensorflow/tfjs-node-gpu",
        ].map((p) => [p, versionOf(p)]),
      ),
      engines,
      engineOverride: process.env.SFTKIT_ENGINE ?? null,
      backends,
      backendOverride: process.env.SFTKIT_BACKEND ?? null,
      native,
    };
    if (args.json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      return;
    }
    const c = colorsFor(process.stdout);
    const lines = [
      c.bold("sft doctor"),
      `  node ${report.node} · ${report.platform} · ${report.cores} cores · ${formatBytes(report.memory)}`,
      ...Object.entries(report.versions).map(([p, v]) => `  ${p.padEnd(32)} ${v ?? c.dim("not installed")}`),
      c.bold("Engines") +
        c.dim(" (auto picks the first available; override with SFTKIT_ENGINE or train.engine)"),
      ...engines.map(
        (e) =>
          `  ${e.name.padEnd(11)} ${e.available ? c.green("available") : c.yellow("unavailable")}  ${e.reason}`,
      ),
      c.bold("Backends of the tfjs engine") +
        c.dim(
          ' (auto picks the first that loads: tensorflow > wasm > cpu; override with SFTKIT_BACKEND or train.engine "tfjs/<backend>")',
        ),
      ...Object.entries(backends).map(
        ([n, b]) =>
          `  ${n.padEnd(11)} ${b.ok ? c.green("ok") : b.installed ? c.red("fails") : c.dim("—")}  ${b.detail}`,
      ),
      c.bold("Native tier") + c.dim(" (@sftkit/native: BLAS matmuls and fused kernels on wasm; optional)"),
      `  ${native.active ? c.green("active") : c.yellow("not active")}  ${native.detail}`,
      ...(native.active
        ? []
        : [
            c.dim(
              "  To enable: a C++ compiler and OpenBLAS (Debian/Ubuntu: apt install g++ libopenblas0-openmp), then reinstall.",
            ),
          ]),
      c.bold("GPU"),
      "  The cuda engine (@sftkit/cuda) builds at install where nvcc is found; its line under Engines says why it is",
      "  unavailable. Its step is tested in CI on a host twin of its kernels, not yet on a GPU (docs/gpu.md). tfjs-node-gpu 4.22",
      "  stays an optional tfjs backend for those who have it (CUDA 11.2 + cuDNN 8.1; installs from outside npm).",
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
  },
});
