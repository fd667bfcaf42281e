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
const out = process.env.OUT;
if (out)
  writeFileSync(`${out}/selftest.json`, `${JSON.stringify({ status, availability: a, results }, null, 2)}\n`);
const failed = results.filter((t) => !t.ok).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
