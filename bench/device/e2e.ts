// A whole run on the GPU machine through the public path (bundled by prepare.sh into .device/e2e.mjs):
// compile a recipe (engine `auto`), train it, evaluate, write the artefacts; then bench/device/e2e_check.py
// loads the merged model with transformers. Prints the plan's engine decision and kernels, the run's
// losses and GPU memory. Exit 0 when the run picked `cuda` (unless --any-engine), finished and wrote a
// merged model and adapter with finite values.
// Usage: node e2e.mjs <output dir> [--any-engine] [--max-steps N] [--features]   (run from the repository root: the paths are relative)
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { compileRecipe } from "../../packages/core/src/compile/compile.ts";
import { loadTokenizer } from "../../packages/core/src/data/tokenizer/index.ts";
import { SafetensorsFile } from "../../packages/core/src/model/safetensors.ts";
import { train } from "../../packages/core/src/train/index.ts";

const args = process.argv.slice(2);
const out = resolve(args[0] ?? "/tmp/sft-gpu-e2e");
const anyEngine = args.includes("--any-engine");
// --max-steps N: a short rehearsal (the CPU engines take minutes for the whole run).
const maxStepsAt = args.indexOf("--max-steps");
const maxSteps = maxStepsAt >= 0 ? Number(args[maxStepsAt + 1]) : undefined;
// --features: the options the cuda engine runs only from composed kernels (checked on its host backend):
// an added end-of-turn token with trainable rows, LoRA dropout, NEFTune, modules to save (the norms).
const features = args.includes("--features");

// Qwen2-shaped, randomly initialised (nothing downloads), stories260K's tokenizer (shipped in examples).
const recipe = {
  name: "gpu-e2e",
  model: {
    architecture: {
      type: "qwen2",
      vocabSize: 512,
      hiddenSize: 256,
      intermediateSize: 704,
      numLayers: 4,
      numHeads: 4,
      numKvHeads: 2,
      attentionBias: true,
      tieWordEmbeddings: true,
      seed: 3,
    },
  },
  tokenizer: resolve("examples/models/stories260K"),
  // The EOS after a space: this tokenizer matches "</s>" as one token only there.
  template: {
    jinja:
      "{{ bos_token }}{% for m in messages %}{% if m.role == 'user' %}User: {{ m.content }}\n" +
      "{% elif m.role == 'assistant' %}Assistant: {{ m.content }} {{ eos_token }}\n{% endif %}{% endfor %}" +
      "{% if add_generation_prompt %}Assistant:{% endif %}",
  },
  data: {
    sources: {
      chat: { path: resolve("examples/quickstart/data/chat.jsonl"), format: "messages", eval: 0.1 },
    },
  },
  ...(features ? { tokens: { add: ["<|end|>"], eos: "<|end|>" } } : {}),
  method: features
    ? {
        kind: "lora",
        rank: 8,
        alpha: 16,
        dropout: 0.05,
        targets: "all-linear",
        modulesToSave: ["norms"],
      }
    : { kind: "lora", rank: 8, alpha: 16, dropout: 0, targets: "all-linear" },
  train: {
    epochs: 2,
    learningRate: 2e-3,
    maxLength: 128,
    microBatchSize: 8,
    ...(features ? { neftuneAlpha: 5 } : {}),
  },
  output: { dir: out, save: "both" },
};

async function allFinite(file: string): Promise<boolean> {
  const f = await SafetensorsFile.open(file);
  try {
    for (const name of f.tensors.keys()) if (!(await f.readF32(name)).every(Number.isFinite)) return false;
    return true;
  } finally {
    await f.close();
  }
}

const t0 = performance.now();
const compiled = await compileRecipe(recipe, { write: false });
for (const d of compiled.diagnostics) console.log(`  ${d.severity} ${d.code}: ${d.message}`);
const plan = compiled.plan;
if (!plan) {
  console.log("FAIL  the recipe did not compile");
  process.exit(1);
}
console.log(`engine: ${plan.engine?.chosen} (${plan.engine?.reason})`);
for (const e of plan.engine?.available ?? [])
  console.log(`  ${e.name.padEnd(6)} ${e.available ? "available  " : "unavailable"} ${e.reason}`);
console.log(`kernels: ${JSON.stringify(plan.kernels).slice(0, 600)}`);
console.log(`memory estimate: ${JSON.stringify(plan.memory).slice(0, 400)}`);
let steps = 0;
const result = await train(plan, {
  compiled,
  progress: "lines",
  maxSteps,
  samples: 1,
  handleSigint: false,
  onStep: (m) => {
    steps++;
    if (steps % 5 === 1) console.log(`  step ${JSON.stringify(m).slice(0, 300)}`);
  },
});
const seconds = (performance.now() - t0) / 1000;
console.log(`run: ${JSON.stringify(result).slice(0, 800)}`);
console.log(`seconds (compile + train + artefacts): ${seconds.toFixed(1)}`);
const metrics = join(out, "metrics.jsonl");
if (existsSync(metrics)) {
  const lines = readFileSync(metrics, "utf8").trim().split("\n");
  console.log(`metrics.jsonl: ${lines.length} lines; last: ${lines.at(-1)?.slice(0, 400)}`);
}
// The logged sample's prompt and completion as token ids of our tokenizer: e2e_check.py feeds transformers
// the same ids (its tokenizer may split the prompt differently).
const samples = existsSync(metrics)
  ? readFileSync(metrics, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { sample?: { prompt: string; completion: string } })
      .filter((r) => r.sample)
  : [];
const last = samples.at(-1)?.sample;
if (last) {
  const tok = await loadTokenizer(join(out, "model"));
  const promptIds = tok.encode(last.prompt, { addSpecialTokens: false });
  const completionIds = tok.encode(last.completion, { addSpecialTokens: false });
  writeFileSync(join(out, "sample-ids.json"), JSON.stringify({ ...last, promptIds, completionIds }));
}
const files = [join(out, "model", "model.safetensors"), join(out, "adapter", "adapter_model.safetensors")];
let ok = plan.engine?.chosen === "cuda" || anyEngine;
if (!ok) console.log(`FAIL  auto chose ${plan.engine?.chosen}, not cuda`);
for (const f of files) {
  const there = existsSync(f);
  const finite = there && (await allFinite(f));
  console.log(
    `${there && finite ? "PASS" : "FAIL"}  ${f}: ${there ? (finite ? "finite" : "NON-FINITE") : "missing"}`,
  );
  ok &&= there && finite;
}
const lossOk = typeof result.loss === "number" && Number.isFinite(result.loss);
if (!lossOk) console.log("FAIL  the run's loss is not finite");
process.exit(ok && lossOk ? 0 : 1);
