// Builds the optional native addon at install time, and never fails the install: where it cannot
// build (no C++ compiler, no Node headers, no BLAS, another platform) it records why in
// build/status.json, which `sft doctor` prints, and sftkit runs on pure wasm.
// Env: SFTKIT_NATIVE_BUILD=0 skips the build; CXX picks the compiler; SFTKIT_BLAS_LIB names a
// BLAS shared library to link (a path or -l flag).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { platform } from "node:process";

const here = import.meta.dirname;
const outDir = join(here, "build");
const target = join(outDir, "sftkit_native.node");
const started = Date.now();

function record(status) {
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, "status.json");
  writeFileSync(
    `${file}.tmp`,
    `${JSON.stringify({ ...status, seconds: (Date.now() - started) / 1000 }, null, 2)}\n`,
  );
  renameSync(`${file}.tmp`, file);
  console.log(
    status.ok ? `@sftkit/native: built (${status.blas})` : `@sftkit/native: not built: ${status.reason}`,
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

// The BLAS to link, best first: OpenBLAS built for OpenMP (its threads are ours), any OpenBLAS,
// Accelerate on macOS.
function blas() {
  if (process.env.SFTKIT_BLAS_LIB) {
    const lib = process.env.SFTKIT_BLAS_LIB;
    return { name: `custom (${lib})`, flags: [lib.startsWith("-") ? lib : lib] };
  }
  if (platform === "darwin") return { name: "Accelerate", flags: ["-framework", "Accelerate"] };
  const libDirs = [
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
    "/opt/homebrew/opt/openblas/lib",
  ];
  for (const d of libDirs) {
    const omp = join(d, "openblas-openmp");
    if (existsSync(join(omp, "libopenblas.so.0")))
      return {
        name: `OpenBLAS (OpenMP) ${omp}`,
        flags: [`-L${omp}`, "-l:libopenblas.so.0", `-Wl,-rpath,${omp}`],
      };
  }
  for (const d of libDirs) {
    if (!existsSync(d)) continue;
    const so = readdirSync(d).find((f) => /^libopenblas[a-z]*\.so(\.0)?$/.test(f));
    if (so) return { name: `OpenBLAS ${join(d, so)}`, flags: [`-L${d}`, `-l:${so}`, `-Wl,-rpath,${d}`] };
  }
  return null;
}

function main() {
  // A failed rebuild must not leave an older addon behind that the status says is not there.
  rmSync(target, { force: true });
  if (process.env.SFTKIT_NATIVE_BUILD === "0")
    return record({ ok: false, reason: "skipped (SFTKIT_NATIVE_BUILD=0)" });
  if (platform === "win32") return record({ ok: false, reason: "not supported on Windows yet" });
  const cxx = process.env.CXX || which("g++") || which("clang++") || which("c++");
  if (!cxx) return record({ ok: false, reason: "no C++ compiler (install g++ or clang++)" });
  const headers = nodeHeaders();
  if (!headers) return record({ ok: false, reason: "Node's C headers (node_api.h) not found" });
  const lib = blas();
  if (!lib)
    return record({
      ok: false,
      reason: "no OpenBLAS found (Debian/Ubuntu: apt install libopenblas0-openmp; macOS uses Accelerate)",
    });
  const sources = readdirSync(join(here, "src"))
    .filter((f) => f.endsWith(".cc"))
    .map((f) => join(here, "src", f));
  // Built on the machine that runs it, so it may use every instruction that machine has.
  const arch = process.env.SFTKIT_NATIVE_MARCH ?? (platform === "darwin" ? "" : "-march=native");
  const openmp = platform === "darwin" ? [] : ["-fopenmp"];
  mkdirSync(outDir, { recursive: true });
  const tmp = `${target}.${process.pid}.tmp`;
  const flags = [
    "-O3",
    ...(arch ? [arch] : []),
    "-shared",
    "-fPIC",
    "-std=c++17",
    "-fno-math-errno",
    // Nothing reads the floating-point exception flags; without this g++ keeps fastExp's compares
    // and float-to-int conversions scalar (they could trap) and those loops unvectorized.
    "-fno-trapping-math",
    ...openmp,
    "-DNODE_GYP_MODULE_NAME=sftkit_native",
    `-I${headers}`,
    ...(platform === "darwin" ? ["-undefined", "dynamic_lookup"] : []),
    ...sources,
    "-o",
    tmp,
    ...lib.flags,
  ];
  const r = spawnSync(cxx, flags, { encoding: "utf8" });
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    const err = (r.stderr || r.error?.message || "").trim().split("\n").slice(0, 6).join("\n");
    return record({ ok: false, reason: `compile failed (${cxx}): ${err}`, blas: lib.name });
  }
  renameSync(tmp, target);
  // Load it once here, so a library that links but will not load is reported now.
  const check = spawnSync(process.execPath, ["-e", `require(${JSON.stringify(target)}).info()`], {
    encoding: "utf8",
  });
  if (check.status !== 0) {
    rmSync(target, { force: true });
    const err = check.stderr.trim().split("\n").slice(0, 4).join("\n");
    return record({ ok: false, reason: `built but does not load: ${err}`, blas: lib.name });
  }
  record({ ok: true, blas: lib.name, compiler: cxx, file: target });
}

try {
  main();
} catch (e) {
  record({ ok: false, reason: `build script error: ${e instanceof Error ? e.message : String(e)}` });
}
