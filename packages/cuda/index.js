// Loads the add-ons built by build.mjs and says whether the CUDA engine can run here, and if not why:
// not built (no nvcc at build time), no driver or GPU, compute capability under 8.0, no cuBLASLt.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { join } from "node:path";

const here = import.meta.dirname;
const require = createRequire(import.meta.url);

/** What build.mjs recorded, or null. */
export function buildStatus() {
  try {
    return JSON.parse(readFileSync(join(here, "build", "status.json"), "utf8"));
  } catch {
    return null;
  }
}

function load(file, built, why) {
  if (!built) return { reason: `not built: ${why ?? "unknown"}` };
  if (!existsSync(file)) return { reason: "not built (run `node build.mjs` in @sftkit/cuda, or reinstall)" };
  try {
    return { addon: require(file) };
  } catch (e) {
    return { reason: `failed to load ${file}: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** The CUDA add-on (loads without a driver), or why not. */
export function loadCuda() {
  const s = buildStatus();
  if (!s) return { reason: "not built (no build/status.json; reinstall to build it)" };
  return load(join(here, "build", "sftkit_cuda.node"), s.ok, s.reason);
}

/** The host test add-on (the kernels' arithmetic compiled for the CPU), or why not. */
export function loadCudaHost() {
  const s = buildStatus();
  if (!s) return { reason: "not built (no build/status.json; reinstall to build it)" };
  return load(join(here, "build", "sftkit_cuda_host.node"), s.host?.ok, s.host?.reason);
}

function sitePackages(env) {
  const roots = [
    env.VIRTUAL_ENV && join(env.VIRTUAL_ENV, "lib"),
    env.CONDA_PREFIX && join(env.CONDA_PREFIX, "lib"),
    "/usr/local/lib",
    "/usr/lib",
    join(homedir(), ".local", "lib"),
  ].filter(Boolean);
  const out = [];
  for (const root of roots) {
    let names = [];
    try {
      names = readdirSync(root).filter((n) => /^python3/.test(n));
    } catch {}
    for (const n of names)
      for (const sub of ["site-packages", "dist-packages"]) {
        const d = join(root, n, sub, "nvidia");
        if (existsSync(d)) out.push(d);
      }
  }
  return out;
}

/**
 * Where cuBLASLt may be, best first: $SFTKIT_CUBLASLT, the CUDA toolkit, PyTorch's nvidia-* wheels
 * (nvidia/cublas/lib, nvidia/cu13/lib), then the loader's own search by name.
 */
export function cublasLtCandidates(env = process.env) {
  const dirs = [
    env.CUDA_HOME && join(env.CUDA_HOME, "lib64"),
    "/usr/local/cuda/lib64",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
  ].filter(Boolean);
  for (const nv of sitePackages(env)) {
    let subs = [];
    try {
      subs = readdirSync(nv);
    } catch {}
    for (const s of subs) dirs.push(join(nv, s, "lib"));
  }
  const found = [];
  if (env.SFTKIT_CUBLASLT) found.push(env.SFTKIT_CUBLASLT);
  for (const d of dirs) {
    let names = [];
    try {
      names = readdirSync(d);
    } catch {}
    for (const n of names
      .filter((f) => /^libcublasLt\.so\.\d+$/.test(f))
      .sort()
      .reverse())
      found.push(join(d, n));
  }
  found.push("libcublasLt.so.13", "libcublasLt.so.12");
  return [...new Set(found)];
}

let cached = null;

/**
 * Whether the CUDA engine's kernels can run here, and why (not). Opens the driver (cuInit, no context)
 * and cuBLASLt once per process; SFTKIT_CUDA=0 turns it off.
 */
export function cudaAvailability(env = process.env) {
  if (env.SFTKIT_CUDA === "0") return { available: false, reason: "turned off (SFTKIT_CUDA=0)" };
  cached ??= probe(env);
  return cached;
}

function probe(env) {
  const r = loadCuda();
  if ("reason" in r) return { available: false, reason: r.reason };
  const p = r.addon.probe();
  if (!p.driver) return { available: false, reason: p.driverError };
  const d = p.device;
  const cc = `${d.major}.${d.minor}`;
  const gpu = `${d.name} (compute capability ${cc}, ${(d.bytes / 2 ** 30).toFixed(0)} GiB)`;
  if (d.major < 8)
    return {
      available: false,
      reason: `${gpu}: compute capability ${cc} is under 8.0 (bf16 tensor cores need Ampere or newer)`,
      device: d,
    };
  const tried = [];
  for (const path of cublasLtCandidates(env)) {
    const o = r.addon.openCublasLt(path);
    if (o.ok)
      return {
        available: true,
        reason: `${gpu}, cuBLASLt ${o.version} (${path})`,
        device: d,
        cublasLt: path,
      };
    tried.push(path);
  }
  return {
    available: false,
    reason: `${gpu}: no cuBLASLt found (tried ${tried.join(", ")}; set SFTKIT_CUBLASLT to libcublasLt.so.N)`,
    device: d,
  };
}
