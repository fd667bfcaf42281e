import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../backend.ts";
import { attentionMask, padRows } from "../batch.ts";
import { randomModel } from "../llama.ts";
import { NATIVE_TIER } from "../native/kernels.ts";
import { nativeSuite } from "../native/testing.ts";
import { rotateHalfMatrix } from "../rope.ts";
import { tinyConfig } from "../tiny.ts";
import { lossAndGrads } from "../train-step.ts";
import { attention } from "./attention.ts";
import { describeKernels, OPS, planKernels } from "./index.ts";
import {
  activeKernel,
  type KernelTier,
  OP_NAMES,
  type OpKernels,
  registerKernels,
  withoutTier,
} from "./registry.ts";
import { rmsNorm } from "./rmsnorm.ts";
import { RopeTables, rope } from "./rope.ts";
import { swiglu } from "./swiglu.ts";

// A tier for the cpu backend whose kernels record their calls and run the ops' references.
const RECORDING: KernelTier = {
  tier: "recording",
  backend: "cpu",
  kernels: {
    rmsnorm: { name: "RecRmsNorm", formulation: "recorded rmsnorm" },
    rope: { name: "RecRope", formulation: "recorded rope" },
    attention: { name: "RecAttention", formulation: "recorded attention" },
    swiglu: { name: "RecSwiglu", formulation: "recorded swiglu" },
  },
};
const calls: string[] = [];
const reference = <T>(fn: () => T) => withoutTier("recording", fn);
const recorded: Partial<OpKernels> = {
  rmsnorm: (x, w, eps, grad, weightGrad) => {
    calls.push(`rmsnorm${grad ? "+grad" : ""}`);
    return reference(() => rmsNorm(x, w, { eps, grad, weightGrad }));
  },
  rope: (x, cos, sin, heads, hd, grad) => {
    calls.push("rope");
    const rot = tf.tensor2d(rotateHalfMatrix(hd), [hd, hd]);
    return reference(() => rope(x, heads, new RopeTables(cos, sin, hd, rot), grad));
  },
  attention: (q, k, v, mask, d, _scale, grad) => {
    calls.push(`attention${mask === null ? " (plain causal)" : ""}`);
    const causal = attentionMask({ batch: d.B, seqLen: d.S, ids: new Int32Array(d.B * d.S) });
    return reference(() =>
      attention({
        q,
        k,
        v,
        prefix: null,
        layer: 0,
        mask: mask ?? causal,
        plainCausal: false,
        B: d.B,
        S: d.S,
        P: d.K - d.S,
        past: 0,
        H: d.H,
        KV: d.KV,
        hd: d.hd,
        grad,
      }),
    );
  },
  swiglu: (g, u, grad) => {
    calls.push("swiglu");
    return reference(() => swiglu(g, u, grad));
  },
};

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe("kernel registry", () => {
  beforeAll(async () => {
    await initBackend({ backend: "cpu" });
  });

  it("the decoder layer runs the kernels registered for the running backend, forward and backward", async () => {
    const cfg = tinyConfig("llama");
    const model = randomModel(cfg, { seed: 3 });
    const batch = padRows([
      [1, 5, 9, 13, 17, 21],
      [1, 4, 8],
    ]);
    const logitsOf = () => {
      const t = model.logitsTensor(batch);
      const d = t.dataSync().slice();
      t.dispose();
      return d;
    };
    const labels = Int32Array.from(batch.ids, (id) => (id === 0 ? -100 : id));
    const vars = model.parameters().map(([, v]) => v);
    const plain = logitsOf();
    const plainStep = await lossAndGrads(model, { batch, labels }, vars);
    expect(calls).toEqual([]);

    registerKernels(RECORDING, recorded);
    expect(activeKernel("swiglu")).toEqual({ tier: "recording", name: "RecSwiglu" });
    expect(activeKernel("linear")).toBeUndefined();
    const viaKernels = logitsOf();
    // Per layer: two norms, RoPE on q and k, attention (padding: an explicit mask), SwiGLU; then the final norm.
    const layer = ["rmsnorm", "rope", "rope", "attention", "rmsnorm", "swiglu"];
    expect(calls).toEqual([...layer, ...layer, "rmsnorm"]);
    expect(maxAbsDiff(viaKernels, plain)).toBeLessThan(1e-5);

    calls.length = 0;
    const step = await lossAndGrads(model, { batch, labels }, vars);
    expect(calls.filter((c) => c === "rmsnorm+grad")).toHaveLength(2 * cfg.numLayers + 1);
    expect(Math.abs(step.loss - plainStep.loss)).toBeLessThan(1e-4);
    for (const [i, g] of step.grads.entries())
      expect(maxAbsDiff(g.dataSync(), plainStep.grads[i]!.dataSync())).toBeLessThan(1e-5);

    // Switched off, and on another backend, the references run.
    calls.length = 0;
    withoutTier("recording", logitsOf);
    expect(calls).toEqual([]);
    await initBackend({ backend: "wasm" });
    const onWasm = model.logitsTensor(batch);
    onWasm.dispose();
    expect(calls).toEqual([]);
    await initBackend({ backend: "cpu" });
    tf.dispose([...step.grads, ...plainStep.grads]);
    model.dispose();
  });

  it("rejects an implementation its tier does not declare", () => {
    expect(() => registerKernels({ tier: "t", backend: "cpu", kernels: {} }, { swiglu: (g) => g })).toThrow(
      /swiglu is implemented but not declared/,
    );
  });
});

describe("the plan's kernel section", () => {
  it("defines every op once, and reads each row from the tier that will register it or the op's reference", () => {
    expect(OPS.map((s) => s.op).sort()).toEqual([...OP_NAMES].sort());
    const rows = planKernels("cpu", [RECORDING]);
    for (const spec of OPS) {
      const row = rows.find((r) => r.op === spec.op);
      const declared = RECORDING.kernels[spec.op];
      expect(row?.formulation ?? null).toBe(declared ? declared.formulation : spec.reference.plan("cpu"));
    }
    // A tier for another backend changes nothing.
    expect(planKernels("wasm", [RECORDING])).toEqual(planKernels("wasm", []));
  });

  it("lists the native tier's declarations where it will load, the references where not", () => {
    const native = describeKernels("wasm", true);
    for (const [op, info] of Object.entries(NATIVE_TIER.kernels))
      expect(native.find((r) => r.op === op)?.formulation).toBe(info.formulation);
    const plain = describeKernels("wasm", false);
    expect(plain.find((r) => r.op === "rmsnorm")?.formulation).toMatch(/built-in gradients/);
    expect(plain.find((r) => r.op === "matmul")).toBeUndefined();
    expect(describeKernels("cpu").find((r) => r.op === "transpose")).toBeUndefined();
  });
});

const { skip, title } = await nativeSuite("native tier registration");
describe.skipIf(skip)(title, () => {
  it("registers, on wasm, every kernel the plan says the native tier runs", async () => {
    await initBackend({ backend: "wasm" });
    for (const [op, info] of Object.entries(NATIVE_TIER.kernels))
      expect(activeKernel(op as keyof typeof NATIVE_TIER.kernels)).toEqual({
        tier: "native",
        name: info.name,
      });
    withoutTier("native", () => expect(activeKernel("attention")).toBeUndefined());
  });
});
