// The readable form of a Plan for `sft plan`: sections, tables, units.
import { relative } from "node:path";
import type { Plan } from "../compile/plan-schema.ts";
import { type Colors, formatBytes, formatCount, formatPercent, table } from "../util/format.ts";

/** `verbose` adds the kernel formulations (engine internals, for whoever works on the kernels). */
/** What the plan's peak counts: the process (host memory), the wasm heap, or the GPU. */
function peakScope(backend: string): string {
  if (backend === "wasm") return "estimated for the wasm heap: the sum above; `sft run` measures the heap";
  if (backend === "cuda")
    return "estimated on the GPU: the sum above; the engine reserves it, less the runtime, at load";
  return "estimated for the whole process: the sum above; `sft run` measures it";
}

export function formatPlanSummary(
  plan: Plan,
  c: Colors,
  cwd = process.cwd(),
  { verbose = false }: { verbose?: boolean } = {},
): string {
  const rel = (p: string | null) => (p ? relative(cwd, p) || "." : "–");
  const out: string[] = [];
  const section = (title: string, body: string) => out.push(`${c.bold(title.padEnd(10))}${body}`);
  const m = plan.model;
  const cfg = m.config;

  out.push(
    `${c.bold(c.cyan(`Plan ${plan.recipe.name}`))} ${c.dim(`(plan v${plan.version}, sftkit ${plan.sftkit}${plan.recipe.file ? `, ${rel(plan.recipe.file)}` : ""})`)}`,
  );
  const overrides = plan.recipe.overrides ?? [];
  if (overrides.length)
    section("Overrides", overrides.map((o) => `${o.path}=${JSON.stringify(o.value)}`).join(" · "));
  const source = sourceText(m.source, rel);
  section(
    "Model",
    `${m.architecture} · ${cfg.numLayers} layers · d ${cfg.hiddenSize} · ffn ${cfg.intermediateSize} · heads ${cfg.numHeads}/${cfg.numKvHeads} kv × ${cfg.headDim} · vocab ${m.vocab.model}${m.vocab.added ? ` + ${m.vocab.added} added = ${m.vocab.total}` : ""} · ${formatCount(m.parameters)} params · ${m.dtype} · ${source}`,
  );
  const t = plan.tokenizer;
  const tok = (x: { text: string; id: number } | null) => (x ? `${x.text} (${x.id})` : "–");
  const probeTokens = new Set(plan.probes?.tokens ?? []);
  const named = t.added.filter((a) => !probeTokens.has(a.content));
  const addedText = [
    ...named.map((a) => `${a.content} (${a.id}, ${a.init})`),
    ...(probeTokens.size ? [`${probeTokens.size} probe tokens`] : []),
  ].join(", ");
  section(
    "Tokens",
    `bos ${tok(t.bos)} · eos ${tok(t.eos)} · pad ${tok(t.pad)}${addedText ? ` · added ${addedText}` : ""}`,
  );
  section(
    "Template",
    `${plan.template.source}${plan.template.name ? ` ${plan.template.name}` : ""}${plan.template.hash ? c.dim(` sha256 ${plan.template.hash.slice(0, 12)}`) : ""}`,
  );
  section("Method", describeMethod(plan.method));

  out.push(c.bold("Parameters"));
  out.push(
    table(
      ["group", "role", "tensors", "params", "dtype", "B/param", "size"],
      plan.parameterGroups.map((g) => [
        g.name,
        g.role,
        String(g.tensors),
        formatCount(g.parameters),
        g.dtype,
        g.bytesPerParameter === undefined ? "–" : String(+g.bytesPerParameter.toFixed(3)),
        formatBytes(g.bytes),
      ]),
      c,
    ),
  );
  const p = plan.parameters;
  out.push(
    `  trainable ${c.green(formatCount(p.trainable))} (${formatPercent(p.trainableFraction, 2)}) · frozen ${formatCount(p.frozen)} · quantized ${formatCount(p.quantized)} · total ${formatCount(p.total)}`,
  );

  out.push(c.bold("Data"));
  const d = plan.data;
  if (d.sources.length) {
    out.push(
      table(
        [
          "source",
          "format",
          "rows",
          "train",
          "eval",
          "tokens",
          "trained",
          "longest",
          "weight",
          "samples/epoch",
        ],
        d.sources.map((s) => [
          s.name,
          s.format,
          formatCount(s.rows),
          formatCount(s.trainRows),
          formatCount(s.evalRows),
          formatCount(s.tokens),
          formatCount(s.trainedTokens),
          formatCount(s.longest),
          s.weight === null ? "–" : String(Number(s.weight.toFixed(3))),
          formatCount(s.samplesPerEpoch),
        ]),
        c,
      ),
    );
  } else {
    out.push("  (data not read)");
  }
  // The end token the template writes (one vocabulary token, checked at compile time).
  const eot = plan.template.endOfTurn ? `${plan.template.endOfTurn} ` : "";
  const eosTrained =
    d.masking.eos === "turn"
      ? `${eot}after every trained turn`
      : d.masking.eos === "last"
        ? `${eot}after the last turn`
        : "never trained";
  out.push(
    `  loss on ${d.masking.lossOn} · EOS ${eosTrained} · maxLength ${d.maxLength} (${d.overLength} longer) · packing ${d.packing ? "on" : "off"} · seed ${d.seed}${d.cache.hit === null ? "" : ` · cache ${d.cache.hit ? "hit" : "written"}`}`,
  );
  if (plan.probes) {
    const p = plan.probes;
    section(
      "Probes",
      `${p.count} facts on fresh tokens · ${formatPercent(p.rate, 0)} of each epoch (${formatCount(p.samplesPerEpoch)} samples) · chance recall ${formatPercent(p.chance)}`,
    );
  }
  const b = plan.batching;
  section(
    "Batching",
    `${b.mode} · ${b.tokensPerMicroBatch !== null ? `${formatCount(b.tokensPerMicroBatch)} tokens/micro-batch` : `${b.microBatchSize} rows/micro-batch`} · accumulation ${b.gradientAccumulation} · ${formatCount(b.microBatchesPerEpoch)} micro-batches/epoch · padding ${formatPercent(b.paddingFraction)}`,
  );
  const o = plan.optimizer;
  section(
    "Optimizer",
    `adamw lr ${o.learningRate} ${o.schedule.kind} · warmup ${o.schedule.warmupSteps ?? "–"} of ${o.schedule.totalSteps ?? "–"} steps${o.epochs !== null ? ` (${o.epochs} epoch${o.epochs === 1 ? "" : "s"}, ${o.stepsPerEpoch ?? "–"}/epoch)` : ""} · betas ${o.betas.join("/")} · eps ${o.eps} · weight decay ${o.weightDecay} · clip ${o.clipNorm || "off"}`,
  );
  const mem = plan.memory;
  const weights = Object.entries(mem.weights)
    .map(([dtype, n]) => `${formatBytes(n)} ${dtype}`)
    .join(" + ");
  section(
    "Memory",
    `weights ${weights} · gradients ${formatBytes(mem.gradients)} · AdamW ${formatBytes(mem.optimizerState)} · activations ${formatBytes(mem.activations)} (${formatBytes(mem.activationsPerToken)}/token${mem.gradientCheckpointing ? ", checkpointed" : ""}) · logits ${formatBytes(mem.logits)}${mem.scratch !== undefined ? ` · scratch ${formatBytes(mem.scratch)}` : ""}${mem.runtime !== undefined ? ` · runtime ${formatBytes(mem.runtime)}` : ""}`,
  );
  out.push(
    `          peak ${c.bold(formatBytes(mem.peak))} (${peakScope(mem.device.backend)}) of ${formatBytes(mem.device.bytes)} (${mem.device.note}) ${mem.fits ? c.green("fits") : c.red("does NOT fit")}`,
  );
  const gpu = plan.gpu;
  if (gpu && mem.device.backend === "cuda") {
    const fit = gpu.buckets[0];
    out.push(
      `          GPU ${gpu.device.name}: ${fit ? `${fit.rows} rows of ${fit.length} (${formatCount(fit.tokensPerMicroBatch)} tokens) fit a micro-batch` : "no micro-batch fits"}${mem.arena !== undefined ? ` · ${formatBytes(mem.arena)} reserved at load (the arena)` : ""}`,
    );
  }
  if (plan.engine) {
    const others = plan.engine.available.filter((e) => e.name !== plan.engine?.chosen);
    section(
      "Engine",
      `${plan.engine.chosen} · ${plan.engine.reason}` +
        others
          .map((e) => `\n          ${e.name}: ${e.available ? "available" : `unavailable (${e.reason})`}`)
          .join(""),
    );
  }
  section(
    "Backend",
    `${plan.backend.chosen} · ${plan.backend.threads} threads · ${plan.backend.reason} ${c.dim(`(installed: ${plan.backend.available.join(", ")})`)}` +
      (plan.backend.native
        ? `\n          native tier ${plan.backend.native.active ? c.green("on") : c.yellow("off")}: ${plan.backend.native.reason}`
        : ""),
  );
  // Whose kernels: plans before engines existed ran tfjs.
  if (verbose)
    section(
      "Kernels",
      [
        `${plan.engine?.chosen ?? "tfjs"} engine`,
        ...plan.kernels.map((k) => `${k.op}: ${k.formulation}`),
      ].join("\n          "),
    );
  section(
    "Output",
    `${rel(plan.output.dir)} · save ${plan.output.save}${plan.checkpoints.every ? ` · checkpoint every ${plan.checkpoints.every} steps` : ""}`,
  );
  const disk = plan.disk;
  if (disk) {
    const held = disk.checkpointsHeld;
    const why = plan.checkpoints.every
      ? ` (keep ${plan.checkpoints.keep} + the best + the one being written)`
      : " (the last)";
    const saved = { adapter: "adapter", merged: "model", both: "adapter + model" }[plan.output.save];
    const cacheDir = plan.data.cache.dir;
    const cache =
      disk.dataCache && cacheDir ? ` · data cache ${formatBytes(disk.dataCache)} in ${rel(cacheDir)}` : "";
    section(
      "Disk",
      `about ${c.bold(formatBytes(disk.total))}: ${held} checkpoint${held === 1 ? "" : "s"} of ${formatBytes(disk.checkpoint)}${why} · ${saved} ${formatBytes(disk.artefacts)} under ${rel(plan.output.dir)}${cache}`,
    );
  }
  // The warnings themselves go to stderr with their source locations; here only the tally.
  const shown = plan.warnings.filter((w) => !w.acknowledged).length;
  const acknowledged = plan.warnings.length - shown;
  if (plan.warnings.length) {
    section(
      "Warnings",
      `${shown ? c.yellow(`${shown} shown`) : "none shown"}${acknowledged ? ` · ${acknowledged} acknowledged` : ""}`,
    );
  }
  return out.join("\n");
}

function describeMethod(method: Plan["method"]): string {
  const { kind, ...rest } = method;
  const fields = Object.entries(rest)
    .map(([k, v]) => `${k} ${readable(v)}`)
    .join(" · ");
  return fields ? `${kind} · ${fields}` : kind;
}

/** A setting as words: lists comma-separated, nested settings in parentheses, never raw JSON. */
function readable(v: unknown): string {
  if (v === null || v === undefined) return "–";
  if (Array.isArray(v)) return v.length ? v.map(readable).join(", ") : "none";
  if (typeof v === "object") {
    const parts = Object.entries(v).map(([k, x]) => `${k} ${readable(x)}`);
    return `(${parts.join(", ")})`;
  }
  return String(v);
}

function sourceText(s: Plan["model"]["source"], rel: (p: string | null) => string): string {
  switch (s.kind) {
    case "hub":
      return `hub ${s.hub}@${s.revision}`;
    case "path":
      return rel(s.path);
    case "architecture":
      return "random init";
  }
}
