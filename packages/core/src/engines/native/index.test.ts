import { describe, expect, it } from "vitest";
import { decideEngine, listEngines } from "../index.ts";
import { nativeSkip } from "./testing.ts";

describe("the native engine's registration", () => {
  it("is listed with its availability and reason", () => {
    const e = listEngines().find((x) => x.name === "native");
    expect(e).toBeDefined();
    expect(e!.reason).toMatch(/@sftkit\/native/);
  });

  it.skipIf(nativeSkip("").skip)("is chosen by name only: SFTKIT_ENGINE or the recipe, never by auto", () => {
    expect(decideEngine("auto", {}).chosen).toBe("tfjs");
    expect(decideEngine("auto", { SFTKIT_ENGINE: "native" })).toMatchObject({
      chosen: "native",
      reason: "set by $SFTKIT_ENGINE",
    });
    expect(decideEngine("native", {})).toMatchObject({ chosen: "native", reason: "set by the recipe" });
  });
});
