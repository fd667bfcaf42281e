// The plan's key facts as HTML tables (report.html and the notebook display): model, method, parameters,
// data sources, batching and optimizer, memory, backend, warnings.

import type { Plan } from "../compile/plan-schema.ts";
import { formatBytes, formatCount, formatPercent } from "../util/format.ts";
import { esc, factsTable, gridTable } from "./html-util.ts";

const dash = (v: unknown) => (v === null || v === undefined ? "–" : String(v));

function sourceText(s: Plan["model"]["source"]): string {
  switch (s.kind) {
    case "hub":
      return `hub ${s.hub}${s.revision ? `@${s.revision}` : ""}`;
    case "path":
      return dash(s.path);
    case "architecture":
      return "random init";
  }
}

function modelFacts(plan: Plan): [string, string][] {
  const m = plan.model;
  const c = m.config;
  return [
    ["source", sourceText(m.source)],
    ["architecture", m.architecture],
    ["parameters", formatCount(m.parameters)],
    ["layers", String(c.numLayers)],
    ["hidden / ffn", `${c.hiddenSize} / ${c.intermediateSize}`],
    ["heads (kv) × dim", `${c.numHeads} (${c.numKvHeads}) × ${c.headDim}`],
    [
      "vocab",
      m.vocab.added ? `${m.vocab.model} + ${m.vocab.added} added = ${m.vocab.total}` : String(m.vocab.total),
    ],
    ["context", String(c.maxPositionEmbeddings)],
    ["dtype", m.dtype],
  ];
}

function methodFacts(plan: Plan): [string, string][] {
  const { kind, ...rest } = plan.method;
  return [
    ["kind", kind],
    ...Object.entries(rest).map(([k, v]): [string, string] => [
      k,
      typeof v === "string" ? v : JSON.stringify(v),
    ]),
  ];
}

function parameterFacts(plan: Plan): [string, string][] {
  const p = plan.parameters;
  return [
    ["trainable", `${formatCount(p.trainable)} (${formatPercent(p.trainableFraction, 2)})`],
    ["frozen", formatCount(p.frozen)],
    ["quantized", formatCount(p.quantized)],
    ["total", formatCount(p.total)],
  ];
}

function trainingFacts(plan: Plan): [string, string][] {
  const b = plan.batching;
  const o = plan.optimizer;
  const d = plan.data;
  return [
    ["batching", b.mode],
    [
      "micro-batch",
      b.tokensPerMicroBatch !== null
        ? `${formatCount(b.tokensPerMicroBatch)} tokens`
        : `${dash(b.microBatchSize)} rows`,
    ],
    ["gradient accumulation", String(b.gradientAccumulation)],
    ["micro-batches / epoch", formatCount(b.microBatchesPerEpoch)],
    ["padding", formatPercent(b.paddingFraction)],
    ["max length", `${d.maxLength} (${d.overLength} longer)`],
    ["packing", d.packing ? "on" : "off"],
    ["loss on", `${d.masking.lossOn}, EOS ${d.masking.eos}`],
    ["learning rate", `${o.learningRate} (${o.schedule.kind}, warmup ${dash(o.schedule.warmupSteps)})`],
    [
      "steps",
      `${dash(o.schedule.totalSteps)}${o.epochs !== null ? ` (${o.epochs} epochs × ${dash(o.stepsPerEpoch)})` : ""}`,
    ],
    ["weight decay / clip", `${o.weightDecay} / ${o.clipNorm || "off"}`],
    ["eval every", evalInterval(plan)],
  ];
}

function memoryFacts(plan: Plan): [string, string][] {
  const m = plan.memory;
  return [
    ...Object.entries(m.weights).map(([dtype, n]): [string, string] => [
      `weights (${dtype})`,
      formatBytes(n),
    ]),
    ["gradients", formatBytes(m.gradients)],
    ["optimizer state", formatBytes(m.optimizerState)],
    ["activations", `${formatBytes(m.activations)}${m.gradientCheckpointing ? " (checkpointed)" : ""}`],
    ["logits", formatBytes(m.logits)],
    ...(m.scratch !== undefined ? [["scratch", formatBytes(m.scratch)] as [string, string]] : []),
    ...(m.runtime !== undefined ? [["runtime", formatBytes(m.runtime)] as [string, string]] : []),
    ["workspace", formatBytes(m.workspace)],
    [
      "peak",
      `${formatBytes(m.peak)} of ${formatBytes(m.device.bytes)} — ${m.fits ? "fits" : "does NOT fit"}`,
    ],
    ["backend", `${plan.backend.chosen}, ${plan.backend.threads} threads`],
  ];
}

function sourcesTable(plan: Plan): string {
  if (plan.data.sources.length === 0) return `<p class="muted">Data not read.</p>`;
  return gridTable(
    ["source", "format", "rows", "train", "eval", "tokens", "trained tokens", "weight", "samples/epoch"],
    plan.data.sources.map((s) => [
      s.name,
      s.format,
      formatCount(s.rows),
      formatCount(s.trainRows),
      formatCount(s.evalRows),
      formatCount(s.tokens),
      formatCount(s.trainedTokens),
      s.weight === null ? "–" : String(Number(s.weight.toFixed(3))),
      formatCount(s.samplesPerEpoch),
    ]),
  );
}

function groupsTable(plan: Plan): string {
  return gridTable(
    ["group", "role", "tensors", "parameters", "dtype", "B/param", "size"],
    plan.parameterGroups.map((g) => [
      g.name,
      g.role,
      String(g.tensors),
      formatCount(g.parameters),
      g.dtype,
      g.bytesPerParameter === undefined ? "–" : String(+g.bytesPerParameter.toFixed(3)),
      formatBytes(g.bytes),
    ]),
  );
}

function block(title: string, body: string): string {
  return `<div><h3>${esc(title)}</h3>${body}</div>`;
}

/** The plan as HTML sections (no page around it). */
export function planHtml(plan: Plan, opts: { heading?: boolean } = {}): string {
  const warnings = plan.warnings.filter((w) => !w.acknowledged);
  return [
    opts.heading === false
      ? ""
      : `<h2>Plan: ${esc(plan.recipe.name)} <span class="muted">(plan v${plan.version}, sftkit ${esc(plan.sftkit)})</span></h2>`,
    `<div class="cols">`,
    block("Model", factsTable(modelFacts(plan))),
    block("Method", factsTable(methodFacts(plan))),
    block("Parameters", factsTable(parameterFacts(plan))),
    block("Memory", factsTable(memoryFacts(plan))),
    `</div>`,
    block("Data sources", sourcesTable(plan)),
    `<div class="cols">`,
    block("Batching and optimizer", factsTable(trainingFacts(plan))),
    block("Parameter groups", groupsTable(plan)),
    `</div>`,
    warnings.length
      ? block(
          "Warnings",
          `<ul>${warnings.map((w) => `<li class="warn"><code>${esc(w.id)}</code> ${esc(w.message)}</li>`).join("")}</ul>`,
        )
      : "",
    `<p class="muted">Output: ${esc(plan.output.dir)} · save ${esc(plan.output.save)}</p>`,
  ].join("");
}

/** When the loop evaluates: every N steps as set, else once per epoch (its steps), else at the end. */
export function evalInterval(plan: Plan): string {
  if (plan.eval.every) return `${plan.eval.every} steps`;
  const perEpoch = plan.optimizer.stepsPerEpoch;
  return perEpoch ? `each epoch (${perEpoch} step${perEpoch === 1 ? "" : "s"})` : "end only";
}
