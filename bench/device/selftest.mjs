// On the GPU machine: builds nothing, loads @sftkit/cuda (built by run.sh), prints the availability
// verdict and every kernel's self test (GPU vs the host reference CI tests against @sftkit/native).
// Exit 0 all passed, 1 a kernel failed, 2 the add-on cannot run here (with the reason).
import { writeFileSync } from "node:fs";
import { buildStatus, cudaAvailability, loadCuda } from "../../packages/cuda/index.js";

const status = buildStatus();
console.log(
  `build: ${status?.ok ? `ok, sm_${status.archs.join(", sm_")} + PTX in ${status.seconds} s` : `not built: ${status?.reason}`}`,
);
const a = cudaAvailability();
console.log(`availability: ${a.available ? "available" : "unavailable"}: ${a.reason}`);
const r = loadCuda();
if ("reason" in r) {
  console.log(`stop: @sftkit/cuda ${r.reason}`);
  process.exit(2);
}
if (!a.device) {
  console.log("stop: no usable GPU (see availability)");
  process.exit(2);
}
const results = r.addon.selfTest();
for (const t of results)
  console.log(
    `${t.ok ? "PASS" : "FAIL"}  ${t.name.padEnd(36)} max error ${t.maxError.toExponential(2)} (tolerance ${t.tolerance})${t.error ? `  ${t.error}` : ""}`,
  );
if (!a.cublasLt) console.log("note: cuBLASLt did not open, so the GEMM checks did not run");
const failed = results.filter((t) => !t.ok).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
// The parts of a Qwen2.5-0.5B step (8 x 1024 tokens), timed: what the engine's step will be made of.
let parts = [];
if (process.env.SKIP_PARTS !== "1") {
  console.log("\nparts of a Qwen2.5-0.5B step (8 x 1024 tokens), per call:");
  parts = r.addon.bench();
  for (const p of parts)
    console.log(
      `  ${p.name.padEnd(52)} ${p.error ? `ERROR ${p.error}` : `${p.ms.toFixed(3).padStart(9)} ms${p.tflops ? `  ${p.tflops.toFixed(1)} TFLOP/s` : ""}`}`,
    );
}
const out = process.env.OUT;
if (out)
  writeFileSync(
    `${out}/selftest.json`,
    `${JSON.stringify({ status, availability: a, results, parts }, null, 2)}\n`,
  );
process.exit(failed ? 1 : 0);
