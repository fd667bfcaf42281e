// Quick speed check of the engine kernels (not a test): linear on bf16 / f16 / NF4 weights against
// plain float32 BLAS, and flash attention against the probability-keeping attention.
// Usage: node packages/native/scripts/kernel-speed.mjs [threads]
import { loadNative } from "../index.js";

const r = loadNative();
if (!("addon" in r)) throw new Error(`addon not built: ${r.reason}`);
const a = r.addon;
a.setThreads(Number(process.argv[2] ?? 2));

function rand(n, scale = 1) {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = (Math.random() - 0.5) * 2 * scale;
  return x;
}

/** Best of `reps` wall times in ms (after one warm-up call). */
function time(fn, reps = 5) {
  fn();
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    fn();
    best = Math.min(best, performance.now() - t);
  }
  return best;
}

const fmt = (ms, flop) => `${ms.toFixed(1)} ms (${(flop / ms / 1e6).toFixed(1)} GFLOP/s)`;

// Qwen2.5-0.5B's MLP up projection: x [T, 896] @ W [4864, 896]^T.
for (const T of [512, 2048]) {
  const [N, K] = [4864, 896];
  const x = rand(T * K);
  const y = new Float32Array(T * N);
  const dx = new Float32Array(T * K);
  const w32 = rand(N * K, 0.05);
  const bf16 = new Uint16Array(N * K);
  a.fromFloat32(w32, "bf16", bf16);
  const f16 = new Uint16Array(N * K);
  a.fromFloat32(w32, "f16", f16);
  const codes = new Uint8Array((N * K) / 2).map(() => (Math.random() * 256) | 0);
  const nf4 = { dtype: "nf4", codes, blockSize: 64, absmax: rand((N * K) / 64) };
  const flop = 2 * T * N * K;
  const sg = time(() => a.sgemm(x, w32, y, T, N, K, false, true, 1, 0, 0, 0));
  console.log(`linear T=${T} N=${N} K=${K}`);
  console.log(`  sgemm f32 (x W^T)         ${fmt(sg, flop)}`);
  for (const [name, w] of [
    ["f32", { dtype: "f32", data: w32 }],
    ["bf16", { dtype: "bf16", data: bf16 }],
    ["f16", { dtype: "f16", data: f16 }],
    ["nf4", nf4],
  ]) {
    const f = time(() => a.linearForward(x, w, y, T, N, K, false));
    const b = time(() => a.linearBackwardInput(y, w, dx, T, N, K, false));
    console.log(`  ${name.padEnd(5)} forward ${fmt(f, flop)}  backward-input ${fmt(b, flop)}`);
  }
}

// Qwen2.5-0.5B attention: 14 query heads, 2 kv heads, head dim 64, one row of S tokens.
for (const S of [512, 2048]) {
  const [B, H, KV, hd] = [1, 14, 2, 64];
  const K = S;
  const q = rand(B * S * H * hd);
  const k = rand(B * K * KV * hd);
  const v = rand(B * K * KV * hd);
  const dout = rand(B * S * H * hd);
  const out = new Float32Array(q.length);
  const lse = new Float32Array(B * H * S);
  const probs = new Float32Array(B * H * S * K);
  const [dq, dk, dv] = [new Float32Array(q.length), new Float32Array(k.length), new Float32Array(v.length)];
  const scale = 1 / 8;
  const oldF = time(() => a.attentionForward(q, k, v, null, out, probs, B, S, K, H, KV, hd, scale), 3);
  const oldB = time(
    () => a.attentionBackward(q, k, v, probs, dout, dq, dk, dv, B, S, K, H, KV, hd, scale),
    3,
  );
  const newF = time(() => a.flashAttentionForward(q, k, v, null, out, lse, B, S, K, H, KV, hd, scale), 3);
  const newB = time(
    () => a.flashAttentionBackward(q, k, v, null, out, lse, dout, dq, dk, dv, B, S, K, H, KV, hd, scale),
    3,
  );
  const mb = (n) => `${((n * 4) / 2 ** 20).toFixed(1)} MiB`;
  console.log(`attention S=${S} H=${H} KV=${KV} hd=${hd} (causal)`);
  console.log(
    `  old   forward ${oldF.toFixed(1)} ms  backward ${oldB.toFixed(1)} ms  saved probs ${mb(probs.length)}`,
  );
  console.log(
    `  flash forward ${newF.toFixed(1)} ms  backward ${newB.toFixed(1)} ms  saved lse ${mb(lse.length)}`,
  );
}
