// Training-loop benchmark (not a test): tokens/s and peak RSS of each of the six methods on the real
// stories260K (examples/models) with the quickstart's chat data and role tokens, each method in its own
// process so its peak memory is its own. Run: pnpm bench train (BENCH_STEPS, SFTKIT_THREADS,
// SFTKIT_BACKEND apply). Throughput counts real (non-padding) tokens over the training steps only.
// Measured on the 2-core project machine shared with other jobs (load average 5-8), wasm SIMD, 20 steps:
//   1 thread (05:31 UTC): full 4,607 tokens/s, 347 MiB peak RSS; partial 6,678, 326; frozen 6,040, 334;
//     lora 4,178, 373; qlora 4,840, 377; prefix 7,742, 366. Eval loss 1.803 -> full 0.497, partial 0.524,
//     frozen 1.592, lora 0.610, qlora 0.614 (NF4 base: 1.872 before); prefix 7.011 -> 6.380 (random prefixes).
//   2 threads (05:21 UTC, the default: the core count): 498-745 tokens/s for every method, 406-435 MiB; on
//   a model this small, and on a busy machine, thread synchronisation costs more than it gives.

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { compileRecipe } from "../packages/core/src/compile/compile.ts";
import { currentBackend } from "../packages/core/src/model/backend.ts";
import type { RecipeInput } from "../packages/core/src/recipe/schema/recipe.ts";
import { train } from "../packages/core/src/train/loop.ts";

const repo = join(import.meta.dirname, "..");
const STEPS = Number(process.env.BENCH_STEPS ?? 20);

const methods: Record<string, RecipeInput["method"]> = {
  full: { kind: "full" },
  partial: { kind: "partial", lastLayers: 2 },
  frozen: { kind: "frozen", trainable: { newTokens: true, lmHead: true, norms: true } },
  lora: { kind: "lora", rank: 8, alpha: 16, dropout: 0, targets: "all-linear" },
  qlora: { kind: "qlora", rank: 8, alpha: 16, dropout: 0, targets: "all-linear" },
  prefix: { kind: "prefix", virtualTokens: 8 },
};

function recipe(method: RecipeInput["method"], out: string): RecipeInput {
  return {
    name: `bench-${method.kind}`,
    model: { path: join(repo, "examples/models/stories260K") },
    template: {
      jinja:
        "{{ bos_token }}{% for m in messages %}{% if m.role == 'user' %}<|user|>{{ m.content }}<|end|>" +
        "{% elif m.role == 'assistant' %}<|assistant|>{{ m.content }}<|end|>{% endif %}{% endfor %}" +
        "{% if add_generation_prompt %}<|assistant|>{% endif %}",
    },
    tokens: { add: ["<|user|>", "<|assistant|>", "<|end|>"], eos: "<|end|>" },
    data: {
      sources: {
        chat: { path: join(repo, "examples/quickstart/data/chat.jsonl"), format: "messages", eval: 16 },
      },
    },
    method,
    train: { steps: STEPS, learningRate: 3e-3, maxLength: 128, tokensPerMicroBatch: 1024, warmupSteps: 1 },
    output: { dir: out },
  } as RecipeInput;
}

interface Row {
  kind: string;
  trainable: number;
  tokensPerSecond: number;
  peakRssMiB: number;
  evalBefore: number | null;
  evalAfter: number | null;
  backend: string;
}

async function one(kind: string): Promise<Row> {
  const out = mkdtempSync(join(tmpdir(), `sft-bench-${kind}-`));
  try {
    const compiled = await compileRecipe(recipe(methods[kind]!, out), { write: false });
    if (!compiled.plan) throw new Error(compiled.diagnostics.map((d) => d.message).join("\n"));
    const r = await train(compiled.plan, { compiled, progress: "off", samples: 0, handleSigint: false });
    const b = currentBackend();
    return {
      kind,
      trainable: compiled.plan.parameters.trainable,
      tokensPerSecond: r.tokensPerSecond,
      peakRssMiB: r.peakRssBytes / 2 ** 20,
      evalBefore: r.initialEvalLoss,
      evalAfter: r.evalLoss,
      backend: `${b?.backend} ×${b?.threads}`,
    };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

export default async function trainBench(): Promise<void> {
  const only = process.env.BENCH_METHOD;
  if (only) {
    process.stdout.write(`BENCH_ROW ${JSON.stringify(await one(only))}\n`);
    return;
  }
  const rows: Row[] = [];
  const self = fileURLToPath(import.meta.url);
  const runner = `const m = await import(${JSON.stringify("")} + process.argv[1]); await m.default();`;
  for (const kind of Object.keys(methods)) {
    const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", runner, self], {
      env: { ...process.env, BENCH_METHOD: kind },
      encoding: "utf8",
    });
    const line = r.stdout.split("\n").find((l) => l.startsWith("BENCH_ROW "));
    if (!line) {
      console.error(`${kind}: failed\n${r.stderr}`);
      continue;
    }
    rows.push(JSON.parse(line.slice("BENCH_ROW ".length)) as Row);
  }
  const f = (x: number | null) => (x === null ? "-" : x.toFixed(3));
  console.log(`stories260K, quickstart chat data + 3 role tokens, ${STEPS} steps, 1024-token micro-batches`);
  console.log("| method | trainable params | tokens/s | peak RSS MiB | eval loss before → after | backend |");
  console.log("|---|---:|---:|---:|---|---|");
  for (const r of rows)
    console.log(
      `| ${r.kind} | ${r.trainable.toLocaleString("en")} | ${Math.round(r.tokensPerSecond)} | ${Math.round(r.peakRssMiB)} | ${f(r.evalBefore)} → ${f(r.evalAfter)} | ${r.backend} |`,
    );
}
