import { describe, expect, it } from "vitest";
import { beyondLlama, parseHfConfig } from "../../model/families/index.ts";
import type { EngineAsk } from "../engine.ts";
import { decideEngine, listEngines } from "../index.ts";
import { nativeUnsupported } from "./index.ts";
import { nativeSkip } from "./testing.ts";

// Phi-4-mini's shape, small.
const phi4Mini = parseHfConfig(
  {
    model_type: "phi3",
    vocab_size: 64,
    hidden_size: 32,
    intermediate_size: 64,
    num_hidden_layers: 1,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    partial_rotary_factor: 0.75,
  },
  "config.json",
);

const plain: EngineAsk = {
  backend: "auto",
  gpu: false,
  family: "llama",
  convertsWeights: false,
  modelNeeds: [],
};

describe("the native engine's registration", () => {
  it("runs the families' needs it implements, and refuses any other need by name (wherever it is built or not)", () => {
    // Phi-4-mini's fused linears and partial rotary are computed natively (families.test.ts).
    expect(nativeUnsupported({ ...plain, family: "phi3", modelNeeds: beyondLlama(phi4Mini) })).toBeNull();
    expect(
      nativeUnsupported({
        ...plain,
        family: "phi3",
        modelNeeds: [...beyondLlama(phi4Mini), "mixture-of-experts MLPs"],
      }),
    ).toBe("the phi3 model needs mixture-of-experts MLPs, which the native kernels do not implement");
    expect(nativeUnsupported(plain)).toBeNull();
  });

  it("is listed with its availability and reason", () => {
    const e = listEngines().find((x) => x.name === "native");
    expect(e).toBeDefined();
    expect(e!.reason).toMatch(/@sftkit\/native/);
  });

  it.skipIf(nativeSkip("").skip)(
    "is auto's choice where it is built; SFTKIT_ENGINE and the recipe still choose",
    () => {
      expect(decideEngine("auto", {}, plain)).toMatchObject({
        chosen: "native",
        reason: "auto: first available of cuda > native > tfjs",
      });
      expect(decideEngine("auto", { SFTKIT_ENGINE: "tfjs" }, plain)).toMatchObject({
        chosen: "tfjs",
        reason: "set by $SFTKIT_ENGINE",
      });
      expect(decideEngine("tfjs", {}, plain)).toMatchObject({ chosen: "tfjs", reason: "set by the recipe" });
      expect(decideEngine("native", {}, plain)).toMatchObject({
        chosen: "native",
        reason: "set by the recipe",
      });
    },
  );

  it.skipIf(nativeSkip("").skip)(
    "auto falls back to tfjs, saying why, where the plan asks what native cannot do",
    () => {
      expect(decideEngine("auto", {}, { ...plain, backend: "tensorflow" })).toMatchObject({
        chosen: "tfjs",
        reason:
          'auto: first available of cuda > native > tfjs (native cannot: the tfjs backend "tensorflow" is requested (native runs its own CPU kernels))',
      });
      expect(decideEngine("auto", {}, { ...plain, gpu: true }).chosen).toBe("tfjs");
      const converts = decideEngine("auto", {}, { ...plain, family: "fused", convertsWeights: true });
      expect(converts.chosen).toBe("tfjs");
      expect(converts.reason).toContain('model family "fused" converts its checkpoint\'s tensors');
      // The families' needs native implements keep it; one it lacks goes to tfjs, with the reason.
      const phi = decideEngine("auto", {}, { ...plain, family: "phi3", modelNeeds: beyondLlama(phi4Mini) });
      expect(phi.chosen).toBe("native");
      const qwen3 = decideEngine(
        "auto",
        {},
        { ...plain, family: "qwen3", modelNeeds: ["per-head q/k RMSNorm", "mixture-of-experts MLPs"] },
      );
      expect(qwen3).toMatchObject({
        chosen: "tfjs",
        reason:
          "auto: first available of cuda > native > tfjs (native cannot: the qwen3 model needs mixture-of-experts MLPs, which the native kernels do not implement)",
      });
      // Asked for by name, it falls back the same way.
      expect(decideEngine("native", {}, { ...plain, backend: "wasm" })).toMatchObject({
        chosen: "tfjs",
        reason:
          'native cannot run this plan (the tfjs backend "wasm" is requested (native runs its own CPU kernels)); falling back to tfjs',
      });
    },
  );
});

describe("method features on the native engine", () => {
  const all = [
    { feature: "dora", path: "method.dora" },
    { feature: "neftune", path: "train.neftuneAlpha" },
    { feature: "modules-to-save", path: "method.modulesToSave" },
  ] as const;

  it("runs DoRA (method.dora), NEFTune (train.neftuneAlpha) and modules to save (method.modulesToSave)", () => {
    for (const f of all) expect(nativeUnsupported({ ...plain, features: [f] }), f.path).toBeNull();
    expect(nativeUnsupported({ ...plain, features: all })).toBeNull();
  });

  it.skipIf(nativeSkip("").skip)("auto chooses native for a plan using them", () => {
    const d = decideEngine("auto", {}, { ...plain, features: all });
    expect(d).toMatchObject({ chosen: "native", reason: "auto: first available of cuda > native > tfjs" });
  });
});
