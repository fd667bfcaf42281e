import { describe, expect, it } from "vitest";
import { parseYaml, toYaml } from "./yaml.ts";

describe("toYaml / parseYaml", () => {
  it("round-trips nested maps, lists and JSON scalars", () => {
    const value = {
      a: 1,
      "needs quotes": "x: y # z",
      eps: 1e-8,
      big: 1e21,
      neg: -0.5,
      flags: [true, false, null],
      empty: { list: [], map: {} },
      nested: { deep: { list: [{ k: "v", n: [1, 2] }, [3, [4]], "s"] } },
      text: 'line\nbreak "quoted" \\ and unicode é',
    };
    const text = toYaml(value, ["a header"]);
    expect(text.startsWith("# a header\n")).toBe(true);
    expect(parseYaml(text)).toEqual(value);
  });

  it("writes exponent floats so YAML 1.1 readers (PyYAML) see floats", () => {
    expect(toYaml({ eps: 1e-8, lr: 2e-7, big: 1e21 })).toBe("eps: 1.0e-8\nlr: 2.0e-7\nbig: 1.0e+21\n");
  });

  it("leaves undefined values out and refuses what YAML cannot hold", () => {
    expect(toYaml({ a: undefined, b: 2 })).toBe("b: 2\n");
    expect(() => toYaml({ x: Number.NaN })).toThrow(/NaN/);
  });

  it("names the line of what it cannot read", () => {
    expect(() => parseYaml("a: 1\nb: not json\n")).toThrow(/line 2/);
  });
});
