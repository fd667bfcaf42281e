// Builds the optional CUDA add-on at install time, and never fails the install: where it cannot build
// (no nvcc, no C++ compiler, no Node headers, another platform) it records why in build/status.json,
// which `sft doctor` and the plan print, and sftkit runs on its CPU engines.
// Two add-ons: build/sftkit_cuda.node (nvcc: kernels for sm_80, sm_86, sm_89, sm_90 + PTX) and
// build/sftkit_cuda_host.node (the host compiler alone: the kernels' shared arithmetic, for the CPU
// tests, built wherever a C++ compiler is, nvcc or not).
// Env: SFTKIT_CUDA_BUILD=0 skips both; CUDA_HOME names the toolkit (SFTKIT_NVCC the compiler itself,
// "none" builds as if there were none); SFTKIT_CUDA_ARCHS="90" narrows
// the targets (development); CXX picks the host compiler.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { platform } from "node:process";

const here = import.meta.dirname;
const outDir = join(here, "build");
const src = join(here, "src");
const target = join(outDir, "sftkit_cuda.node");
const hostTarget = join(outDir, "sftkit_cuda_host.node");
const started = Date.now();
const DEFAULT_ARCHS = ["80", "86", "89", "90"];

function record(status) {
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, "status.json");
  const seconds = (Date.now() - started) / 1000;
  writeFileSync(`${file}.tmp`, `${JSON.stringify({ ...status, seconds }, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
  const host = status.host?.ok
    ? "host test add-on built"
    : `host test add-on not built: ${status.host?.reason}`;
  console.log(
    status.ok
      ? `@sftkit/cuda: built for sm_${status.archs.join(", sm_")} + PTX in ${seconds.toFixed(1)} s (${host})`
      : `@sftkit/cuda: not built: ${status.reason} (${host})`,
  );
}

function which(cmd) {
  const r = spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : null;
}

function nodeHeaders() {
  const candidates = [
    process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, "include", "node"),
    join(dirname(dirname(process.execPath)), "include", "node"),
    "/usr/include/node",
    "/usr/local/include/node",
  ].filter(Boolean);
  return candidates.find((d) => existsSync(join(d, "node_api.h"))) ?? null;
}

/** nvcc from $SFTKIT_NVCC ("none": as if there were none), CUDA_HOME, PATH, the toolkit's standard place. */
export function findNvcc(env = process.env) {
  if (env.SFTKIT_NVCC) return env.SFTKIT_NVCC === "none" ? null : env.SFTKIT_NVCC;
  const fromHome = env.CUDA_HOME && join(env.CUDA_HOME, "bin", "nvcc");
  if (fromHome && existsSync(fromHome)) return fromHome;
  const onPath = which("nvcc");
  if (onPath) return onPath;
  return existsSync("/usr/local/cuda/bin/nvcc") ? "/usr/local/cuda/bin/nvcc" : null;
}

function firstLines(text, n) {
  return (text || "").trim().split("\n").slice(0, n).join("\n");
}

/** Compiles to `tmp` then moves it to `file`, loading it once (a library that will not load is reported now). */
function compile(cmd, flags, file) {
  const tmp = `${file}.${process.pid}.tmp`;
  const r = spawnSync(cmd, [...flags, "-o", tmp], { encoding: "utf8" });
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    return `compile failed (${cmd}): ${firstLines(r.stderr || r.stdout || r.error?.message, 8)}`;
  }
  renameSync(tmp, file);
  // RTLD_NOW: an undefined symbol (a source left out of the link) fails here, not at its first call.
  const load = `try { process.dlopen({ exports: {} }, ${JSON.stringify(file)}, require("os").constants.dlopen.RTLD_NOW) } catch (e) { console.error(e.message); process.exit(1) }`;
  const check = spawnSync(process.execPath, ["-e", load], { encoding: "utf8" });
  if (check.status !== 0) {
    rmSync(file, { force: true });
    return `built but does not load: ${firstLines(check.stderr, 4)}`;
  }
  return null;
}

/** Every source of the GPU add-on: src's .cu and .cc files but the host add-on's (a new kernel file cannot be left out). */
function deviceSources() {
  return readdirSync(src)
    .filter((f) => /\.(cu|cc)$/.test(f) && f !== "host.cc")
    .sort();
}

function buildHost(headers) {
  const cxx = process.env.CXX || which("g++") || which("clang++") || which("c++");
  if (!cxx) return { ok: false, reason: "no C++ compiler (install g++ or clang++)" };
  const err = compile(
    cxx,
    [
      "-O2",
      "-shared",
      "-fPIC",
      "-std=c++17",
      "-DNODE_GYP_MODULE_NAME=sftkit_cuda_host",
      `-I${headers}`,
      ...(platform === "darwin" ? ["-undefined", "dynamic_lookup"] : []),
      join(src, "host.cc"),
    ],
    hostTarget,
  );
  return err ? { ok: false, reason: err } : { ok: true, compiler: cxx };
}

function main() {
  // A failed rebuild must not leave older add-ons behind that the status says are not there.
  rmSync(target, { force: true });
  rmSync(hostTarget, { force: true });
  if (process.env.SFTKIT_CUDA_BUILD === "0") {
    const reason = "skipped (SFTKIT_CUDA_BUILD=0)";
    return record({ ok: false, reason, host: { ok: false, reason } });
  }
  mkdirSync(outDir, { recursive: true });
  const headers = nodeHeaders();
  if (!headers) {
    const reason = "Node's C headers (node_api.h) not found";
    return record({ ok: false, reason, host: { ok: false, reason } });
  }
  const host = buildHost(headers);
  if (platform !== "linux") return record({ ok: false, reason: "CUDA builds on Linux only", host });
  const nvcc = findNvcc();
  if (!nvcc)
    return record({
      ok: false,
      reason: "no nvcc at build time (install the CUDA toolkit, or set CUDA_HOME, then reinstall)",
      host,
    });
  const archs = (process.env.SFTKIT_CUDA_ARCHS?.split(/[\s,]+/).filter(Boolean) ?? DEFAULT_ARCHS).map((a) =>
    a.replace(/^sm_/, ""),
  );
  const last = archs.at(-1);
  const gencode = archs.flatMap((a) => [
    "-gencode",
    a === last ? `arch=compute_${a},code=[sm_${a},compute_${a}]` : `arch=compute_${a},code=sm_${a}`,
  ]);
  const err = compile(
    nvcc,
    [
      "-O3",
      "-std=c++17",
      "-shared",
      "-Xcompiler",
      "-fPIC",
      // The targets compile in parallel (CI has 2 cores).
      "--threads",
      process.env.SFTKIT_CUDA_NVCC_THREADS ?? "2",
      "-DNODE_GYP_MODULE_NAME=sftkit_cuda",
      `-I${headers}`,
      ...gencode,
      ...deviceSources().map((f) => join(src, f)),
      "-ldl",
    ],
    target,
  );
  if (err) return record({ ok: false, reason: err, nvcc, archs, host });
  record({ ok: true, nvcc, archs, ptx: `compute_${last}`, file: target, host });
}

// Run as the install script; imported (tests), it only exports findNvcc.
if (process.argv[1] && import.meta.filename === process.argv[1]) {
  try {
    main();
  } catch (e) {
    const reason = `build script error: ${e instanceof Error ? e.message : String(e)}`;
    record({ ok: false, reason, host: { ok: false, reason } });
  }
}
