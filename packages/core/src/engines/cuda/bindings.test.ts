// The device add-on's N-API glue (packages/cuda/src/device.cc) runs only on a GPU, so a wrong argument
// pattern there shows first on a lent machine (nf4Dequantize read its float offset as an integer). This
// checks every binding's one-letter pattern against the declared parameters of CudaDeviceOps in
// packages/cuda/index.d.ts, where float arguments are typed `Float`.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../../../cuda/", import.meta.url));
const deviceCc = readFileSync(`${root}src/device.cc`, "utf8");
const declarations = readFileSync(`${root}index.d.ts`, "utf8");

/** Each binding's pattern by its name: `read(env, info, "bbi", &a, "copy")`. */
function patterns(cc: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of cc.matchAll(/read\(env, info, "([a-z]*)", &a, "(\w+)"\)/g)) out.set(m[2] ?? "", m[1] ?? "");
  return out;
}

/** CudaDeviceOps' methods with their parameter types, in order. */
function declaredParams(dts: string): Map<string, string[]> {
  const start = dts.indexOf("export interface CudaDeviceOps");
  const body = dts.slice(start, dts.indexOf("\n}\n", start));
  const out = new Map<string, string[]>();
  for (const m of body.matchAll(/^ {2}(\w+)\(([^)]*)\)/gm)) {
    const params = (m[2] ?? "")
      .split(",")
      .map((p) => p.trim())
      .filter(Boolean)
      .map((p) => p.slice(p.indexOf(":") + 1).trim());
    out.set(m[1] ?? "", params);
  }
  return out;
}

const letterFor: Record<string, string> = {
  CudaBuffer: "b",
  "CudaBuffer | null": "o",
  number: "i",
  Float: "f",
  boolean: "t",
};

/** The pattern the declaration implies (methods that take a typed array or string read no pattern). */
function expectedPattern(types: string[]): string | null {
  const letters = types.map((t) => letterFor[t]);
  return letters.every((l) => l !== undefined) ? letters.join("") : null;
}

describe("the cuda device add-on's argument patterns", () => {
  const read = patterns(deviceCc);
  const declared = declaredParams(declarations);

  it("finds the bindings and the declarations", () => {
    expect(read.size).toBeGreaterThan(15);
    expect(declared.size).toBeGreaterThan(15);
  });

  it("reads every binding's arguments as CudaDeviceOps declares them (Float: a double, number: an integer)", () => {
    const mismatches: string[] = [];
    for (const [name, pattern] of read) {
      const types = declared.get(name);
      if (!types) {
        mismatches.push(`${name}: read in device.cc but not declared in CudaDeviceOps`);
        continue;
      }
      const want = expectedPattern(types);
      if (want !== pattern)
        mismatches.push(`${name}: device.cc reads "${pattern}", index.d.ts declares "${want}"`);
    }
    expect(mismatches).toEqual([]);
  });

  it("has the pattern checker catch a float read as an integer", () => {
    const planted = deviceCc.replace('"booofibi", &a, "nf4Dequantize"', '"boooifbi", &a, "nf4Dequantize"');
    expect(planted).not.toBe(deviceCc);
    const types = declared.get("nf4Dequantize") ?? [];
    expect(patterns(planted).get("nf4Dequantize")).not.toBe(expectedPattern(types));
  });
});
