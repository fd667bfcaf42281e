// Method options beyond plain weights and LoRA on the cuda engine's HOST backend (the step the GPU runs,
// on the CPU), each one step against the tfjs engine (the oracle) within compareGolden's bf16 tolerances:
// trainable rows of added tokens and NEFTune.
import { beforeAll, describe, expect, it } from "vitest";
import type { Plan } from "../../compile/plan-schema.ts";
import { newToken } from "../../methods/testing.ts";
import { initBackend } from "../../model/backend.ts";
import type { ModelConfig } from "../../model/config.ts";
import type { EngineMicroBatch } from "../engine.ts";
import { expectSameArtefacts, type Run, runSteps } from "../native/compare.testing.ts";
import { enginePlan, packedBatch, relDiff, tempDir } from "../native/testing.ts";
import { createTfjsEngine } from "../tfjs/engine.ts";
import { createCudaEngine } from "./engine.ts";
import { hostAddon } from "./fake-device.testing.ts";
import {
  BF16_TOLERANCE,
  compareGolden,
  computeGolden,
  GOLDEN_SEED,
  type Golden,
  goldenConfig,
} from "./golden.ts";

const addon = hostAddon();
const skip = typeof addon === "string" ? addon : null;
const title = (t: string) => (skip ? `${t} (skipped: ${skip})` : t);

const LORA = { kind: "lora", rank: 4, alpha: 8, dropout: 0, targets: "all-linear" };
/** Two tokens added after the golden model's 64 (one initialised to the mean, one to seeded noise). */
const ADDED = [newToken("<a>", 64), newToken("<b>", 65, "noise")];

/** The golden batch over the grown vocabulary, with the added ids as inputs and as trained targets. */
function rowsBatch(): EngineMicroBatch {
  const b = packedBatch(1, 64);
  const ids = Int32Array.from(b.ids);
  for (const [i, id] of [
    [4, 64],
    [9, 65],
    [13, 64],
    [30, 65],
    [41, 64],
  ] as const)
    ids[i] = id;
  const labels = Int32Array.from(b.labels, (l, i) => (l === -100 ? -100 : ids[i]!));
  return { ...b, ids, labels };
}

/**
 * compareGolden's bf16 tolerances, but 2% on tensors after the step: LoRA's B starts at zero, so after one
 * step it is a scaled gradient (whose tolerance is 6%); the batch with added ids lands it at ~1.03%.
 */
const TOLERANCE = { ...BF16_TOLERANCE, after: 2e-2 };

/** Runs of runSteps within bf16 tolerances: losses, and every gradient (AdamW's m) and tensor after each step. */
function expectCloseRuns(got: Run, want: Run): void {
  const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
  for (const [i, l] of want.losses.entries()) expect(rel(got.losses[i]!, l), `loss ${i}`).toBeLessThan(1e-2);
  for (const [i, l] of want.evalLosses.entries())
    expect(rel(got.evalLosses[i]!, l), `eval ${i}`).toBeLessThan(1e-2);
  for (const [s, ws] of want.states.entries())
    for (const w of ws.weights) {
      const g = got.states[s]!;
      const where = `step ${s + 1} ${w.name}`;
      expect(relDiff(g.optimizer.m.get(w.name)!, ws.optimizer.m.get(w.name)!), where).toBeLessThan(
        BF16_TOLERANCE.grad,
      );
      expect(relDiff(g.weights.find((x) => x.name === w.name)!.data, w.data), where).toBeLessThan(2e-2);
    }
}

/** One step of `plan` on tfjs and on the cuda host backend; the failed checks (none: they agree). */
async function step(
  plan: Plan,
  batch: EngineMicroBatch,
  cfg: ModelConfig = goldenConfig(),
): Promise<{ want: Golden; got: Golden; bad: ReturnType<typeof compareGolden> }> {
  const want = await computeGolden("tfjs", plan.method, await createTfjsEngine(plan), plan, batch, cfg);
  const got = await computeGolden(
    "cuda",
    plan.method,
    await createCudaEngine(plan, "host"),
    plan,
    batch,
    cfg,
  );
  return { want, got, bad: compareGolden(got, want, TOLERANCE).filter((c) => !c.ok) };
}

describe.skipIf(skip !== null)(title("cuda engine (host backend): method options against tfjs"), () => {
  beforeAll(async () => {
    await initBackend();
  });

  it("LoRA + trainable rows of added tokens (LoRA's default; untied head): loss, every gradient and the step agree", async () => {
    const plan = enginePlan(goldenConfig(), LORA, { added: ADDED });
    const { got, bad } = await step(plan, rowsBatch());
    expect(bad).toEqual([]);
    const rows = got.tensors.filter((t) => t.name.endsWith("trainable_tokens"));
    expect(rows.map((t) => [t.name, t.shape])).toEqual([
      ["model.embed_tokens.trainable_tokens", [2, 32]],
      ["lm_head.trainable_tokens", [2, 32]],
    ]);
    // The rows take gradients from the inputs and the targets, and move.
    for (const t of rows) expect(t.grad.some((g) => g !== 0)).toBe(true);
  });

  it("trained token rows: later passes read the updated rows (losses and evaluations over two steps agree)", async () => {
    // Only the rows train: what the evaluations see change is theirs.
    const plan = enginePlan(
      goldenConfig(),
      { kind: "frozen", trainable: { newTokens: true } },
      { added: ADDED },
    );
    const model = { config: goldenConfig(), seed: GOLDEN_SEED };
    const batches = [rowsBatch(), rowsBatch()];
    const want = await runSteps(await createTfjsEngine(plan), plan, model, batches);
    const got = await runSteps(await createCudaEngine(plan, "host"), plan, model, batches);
    const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
    for (const [i, l] of want.losses.entries())
      expect(rel(got.losses[i]!, l), `loss ${i}`).toBeLessThan(1e-3);
    for (const [i, l] of want.evalLosses.entries())
      expect(rel(got.evalLosses[i]!, l), `eval ${i}`).toBeLessThan(1e-3);
    // The steps (learning rate 0.5) move the loss far beyond the tolerance: a stale row would show.
    expect(rel(want.evalLosses[1]!, want.losses[0]!)).toBeGreaterThan(2e-2);
  });

  it("trainable rows on a tied model (the rows take the head's gradient too), and named rows of a frozen model", async () => {
    const tied = { ...goldenConfig(), tieWordEmbeddings: true };
    const lora = enginePlan(tied, { ...LORA, trainNewTokens: true }, { added: ADDED });
    expect((await step(lora, rowsBatch(), tied)).bad).toEqual([]);
    const frozen = enginePlan(
      goldenConfig(),
      { kind: "frozen", trainable: { newTokens: ["<b>"] } },
      { added: ADDED },
    );
    const r = await step(frozen, rowsBatch());
    expect(r.bad).toEqual([]);
    expect(r.got.tensors.map((t) => [t.name, t.shape])).toEqual([
      ["model.embed_tokens.trainable_tokens", [1, 32]],
      ["lm_head.trainable_tokens", [1, 32]],
    ]);
  });

  it("added tokens without trainable rows (the vocabulary grown at load) agree", async () => {
    const plan = enginePlan(goldenConfig(), { ...LORA, trainNewTokens: false }, { added: ADDED });
    const { got, bad } = await step(plan, rowsBatch());
    expect(bad).toEqual([]);
    expect(got.tensors.some((t) => t.name.endsWith("trainable_tokens"))).toBe(false);
  });

  it("LoRA dropout: the tfjs engine's seeded masks in training passes, also under gradient checkpointing (evaluation drops nothing)", async () => {
    const dropout = { ...LORA, dropout: 0.25 };
    for (const recompute of [false, true]) {
      const plan = enginePlan(goldenConfig(), dropout, { recompute });
      expect((await step(plan, packedBatch(1, 64))).bad, `recompute ${recompute}`).toEqual([]);
    }
    const plan = enginePlan(goldenConfig(), dropout);
    // Two steps: on the second, B is no longer zero, so A's gradient and dx pass through the masks too.
    const model = { config: goldenConfig(), seed: GOLDEN_SEED };
    const batches = [packedBatch(1, 64), packedBatch(2, 64)];
    const want = await runSteps(await createTfjsEngine(plan), plan, model, batches);
    const got = await runSteps(await createCudaEngine(plan, "host"), plan, model, batches);
    expectCloseRuns(got, want);
    const batch = packedBatch(1, 64);
    const e = await createCudaEngine(plan, "host");
    await e.load({ plan, model: { config: goldenConfig(), seed: GOLDEN_SEED } });
    // Two steps: B is no longer zero, so the masks reach the loss.
    for (let i = 0; i < 2; i++) {
      const r = await e.forwardBackward(batch, { seed: i });
      await e.applyStep({ learningRate: 0.05, clipNorm: 0, trainedTokens: r.trainedTokens });
    }
    const evaluated = (await e.evalLoss(batch)).lossSum;
    expect(Math.abs((await e.forwardBackward(batch, { seed: 7 })).lossSum - evaluated)).toBeGreaterThan(1e-4);
    // The same weights without dropout evaluate the same: evaluation drops nothing.
    const plain = enginePlan(goldenConfig(), LORA);
    const p = await createCudaEngine(plain, "host");
    await p.load({ plan: plain, model: { config: goldenConfig(), seed: GOLDEN_SEED } });
    await p.writeState(await e.readState());
    expect((await p.evalLoss(batch)).lossSum).toBe(evaluated);
    e.dispose();
    p.dispose();
  });

  it("modules to save: whole embedding, lm_head and norms train beside LoRA (added tokens, untied), and norms beside QLoRA on a tied model", async () => {
    const saving = { ...LORA, modulesToSave: ["embed_tokens", "lm_head", "norms"] };
    const plan = enginePlan(goldenConfig(), saving, { added: ADDED });
    const { got, bad } = await step(plan, rowsBatch());
    expect(bad).toEqual([]);
    const names = got.tensors.map((t) => t.name);
    for (const n of ["model.embed_tokens.weight", "lm_head.weight", "model.norm.weight"])
      expect(names).toContain(n);
    // Two steps, then the adapter (PEFT's modules_to_save) and the merged model, as tfjs writes them.
    const model = { config: goldenConfig(), seed: GOLDEN_SEED };
    const batches = [rowsBatch(), packedBatch(2, 66)];
    const dirs = [tempDir("cuda-mts-want"), tempDir("cuda-mts-got")] as const;
    const want = await runSteps(await createTfjsEngine(plan), plan, model, batches, 2, dirs[0]);
    const run = await runSteps(await createCudaEngine(plan, "host"), plan, model, batches, 2, dirs[1]);
    expectCloseRuns(run, want);
    expect(run.artefacts).toContain("adapter/adapter_model.safetensors");
    await expectSameArtefacts(dirs[1], run.artefacts!, dirs[0], want.artefacts!, 2e-2);
    const tied = { ...goldenConfig(), tieWordEmbeddings: true };
    const qlora = enginePlan(tied, { ...LORA, kind: "qlora", alpha: 16, modulesToSave: ["norms"] });
    expect((await step(qlora, packedBatch(1, 64), tied)).bad).toEqual([]);
  });

  it("DoRA (LoRA and QLoRA): one step, and two steps (the magnitudes and the norms of the moved adapters) agree", async () => {
    for (const method of [
      { ...LORA, dora: true },
      { ...LORA, kind: "qlora", alpha: 16, dora: true },
    ]) {
      const plan = enginePlan(goldenConfig(), method);
      const { got, bad } = await step(plan, packedBatch(1, 64));
      expect(bad, method.kind).toEqual([]);
      expect(got.tensors.filter((t) => t.name.endsWith("magnitude_vector")).length).toBe(14);
      const model = { config: goldenConfig(), seed: GOLDEN_SEED };
      const batches = [packedBatch(1, 64), packedBatch(2, 64)];
      const want = await runSteps(await createTfjsEngine(plan), plan, model, batches);
      const run = await runSteps(await createCudaEngine(plan, "host"), plan, model, batches);
      expectCloseRuns(run, want);
    }
  });

  it("NEFTune: the tfjs engine's seeded noise on the input embeddings in training passes (evaluation sees none)", async () => {
    const plain = enginePlan(goldenConfig(), LORA);
    const plan: Plan = { ...plain, neftune: { alpha: 5 } };
    const batch = packedBatch(1, 64);
    const noisy = await step(plan, batch);
    expect(noisy.bad).toEqual([]);
    const without = await computeGolden("plain", LORA, await createCudaEngine(plain, "host"), plain, batch);
    expect(Math.abs(noisy.got.lossSum - without.lossSum)).toBeGreaterThan(1e-4);
    const e = await createCudaEngine(plan, "host");
    await e.load({ plan, model: { config: goldenConfig(), seed: 5 } });
    const p = await createCudaEngine(plain, "host");
    await p.load({ plan: plain, model: { config: goldenConfig(), seed: 5 } });
    expect((await e.evalLoss(batch)).lossSum).toBe((await p.evalLoss(batch)).lossSum);
    e.dispose();
    p.dispose();
  });
});
