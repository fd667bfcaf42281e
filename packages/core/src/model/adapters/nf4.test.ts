import { describe, expect, it } from "vitest";
import { nf4BytesPerParam } from "../../compile/params.ts";
import { initBackend } from "../backend.ts";
import { nativeStatus } from "../native/load.ts";
import { nativeDequantNF4 } from "../native/quant.ts";
import { activeKernel } from "../ops/registry.ts";
import { dequantizeNF4, NF4_CODES, NF4Quantizer, nf4Absmax, nf4Bytes, nf4Table, quantizeNF4 } from "./nf4.ts";
import { normalArray } from "./random.ts";

describe("NF4", () => {
  it("has the 16 code values of bitsandbytes/QLoRA", () => {
    expect(NF4_CODES).toHaveLength(16);
    expect(NF4_CODES[0]).toBe(-1);
    expect(NF4_CODES[7]).toBe(0);
    expect(NF4_CODES[15]).toBe(1);
    expect(NF4_CODES[8]).toBeCloseTo(0.07958029955625534, 12);
    expect(NF4_CODES[1]).toBeCloseTo(-0.6961928009986877, 12);
    for (let i = 1; i < 16; i++) expect(NF4_CODES[i]!).toBeGreaterThan(NF4_CODES[i - 1]!);
  });

  it("maps each code value (times the block absmax) to itself, first value in the high nibble", () => {
    const values = Float32Array.from([...NF4_CODES, ...NF4_CODES].map((c) => c * 2.5));
    const q = quantizeNF4(values, { doubleQuant: false });
    expect(q.absmax).toEqual(Float32Array.from([2.5]));
    expect(q.codes[0]).toBe((0 << 4) | 1);
    expect(q.codes[7]).toBe((14 << 4) | 15);
    expect(dequantizeNF4(q)).toEqual(values);
  });

  it("rounds to the nearest code", () => {
    const mid = (NF4_CODES[8]! + NF4_CODES[9]!) / 2;
    const q = quantizeNF4(Float32Array.from([1, mid + 1e-4, mid - 1e-4, -0.04]), { doubleQuant: false });
    expect(Array.from(dequantizeNF4(q))).toEqual(
      [1, NF4_CODES[9]!, NF4_CODES[8]!, 0].map((x) => Math.fround(x)),
    );
  });

  it("round-trips normal weights within half a code gap of each block's absmax (double-quantized)", () => {
    const n = 64 * 256 * 2 + 64 * 3; // more than one double-quantization block, partial at the end
    const x = normalArray(n, 0.02, 7);
    const q = quantizeNF4(x);
    expect(q.absmax).toBeNull();
    expect(q.absmaxCodes).toHaveLength(n / 64);
    expect(q.absmaxScales).toHaveLength(3);
    const y = dequantizeNF4(q);
    const true_ = quantizeNF4(x, { doubleQuant: false }).absmax!;
    const approx = nf4Absmax(q);
    const halfGap = Math.max(...NF4_CODES.slice(1).map((c, i) => (c - NF4_CODES[i]!) / 2));
    let sq = 0;
    for (let i = 0; i < n; i++) {
      const b = (i / 64) | 0;
      const bound = halfGap * true_[b]! + Math.abs(approx[b]! - true_[b]!) + 1e-7;
      expect(Math.abs(y[i]! - x[i]!)).toBeLessThanOrEqual(bound);
      sq += (y[i]! - x[i]!) ** 2;
    }
    // Double quantization moves each absmax by at most half an 8-bit step.
    for (let b = 0; b < true_.length; b++)
      expect(Math.abs(approx[b]! - true_[b]!)).toBeLessThanOrEqual(
        q.absmaxScales![(b / 256) | 0]! / 2 + 1e-9,
      );
    // NF4 on Gaussian weights: relative RMS error about 0.1.
    expect(Math.sqrt(sq / n) / 0.02).toBeLessThan(0.12);
  });

  it("dequantizes straight into the transposed layout", () => {
    const x = normalArray(6 * 40, 1, 3);
    const q = quantizeNF4(x);
    const plain = dequantizeNF4(q);
    const t = dequantizeNF4(q, [6, 40]);
    for (let r = 0; r < 6; r++) for (let c = 0; c < 40; c++) expect(t[c * 6 + r]).toBe(plain[r * 40 + c]);
  });

  it("stores about 0.516 bytes per parameter, as the planner estimates", () => {
    const n = 64 * 256 * 8;
    const q = quantizeNF4(new Float32Array(n).fill(0.5));
    const perParam = nf4Bytes(q) / n;
    expect(perParam).toBeCloseTo(nf4BytesPerParam(64, true), 4);
    expect(perParam).toBeGreaterThan(0.515);
    expect(perParam).toBeLessThan(0.53);
    expect(nf4Bytes(quantizeNF4(new Float32Array(n), { doubleQuant: false })) / n).toBeCloseTo(0.5625, 6);
  });

  it("quantizes values fed piece by piece exactly as the whole array (double-quantized or not)", () => {
    // 3 DQ blocks and a ragged last block, so pieces cross absmax and double-quantization boundaries.
    const values = normalArray(64 * 600 + 10, 0.02, 5);
    for (const doubleQuant of [true, false]) {
      const whole = quantizeNF4(values, { doubleQuant });
      const q = new NF4Quantizer(values.length, { doubleQuant });
      for (let at = 0; at < values.length; at += 64 * 37)
        q.push(values.subarray(at, Math.min(values.length, at + 64 * 37)));
      expect(q.finish()).toEqual(whole);
    }
  });

  it("refuses a piece that does not start on a block boundary, and a finish before every value", () => {
    const q = new NF4Quantizer(256);
    q.push(new Float32Array(100));
    expect(() => q.push(new Float32Array(28))).toThrow(/inside a block/);
    expect(() => new NF4Quantizer(256).finish()).toThrow(/0 of 256/);
  });

  it("rejects an odd block size", () => {
    expect(() => quantizeNF4(new Float32Array(4), { blockSize: 3 })).toThrow(
      /blockSize must be an even integer/,
    );
  });
});

describe("NF4 on the native tier", async () => {
  await initBackend({ backend: "wasm" });
  const active = activeKernel("nf4_dequant")?.tier === "native";
  it.skipIf(!active)(
    `dequantizes in the stored order exactly as the JS decoder${active ? "" : ` (skipped: native tier ${nativeStatus().reason})`}`,
    () => {
      for (const [rows, cols, blockSize, doubleQuant] of [
        [6, 40, 64, true],
        [7, 33, 32, false],
      ] as const) {
        const q = quantizeNF4(normalArray(rows * cols, 0.5, 7), { blockSize, doubleQuant });
        const t = nativeDequantNF4(q.codes, nf4Absmax(q), nf4Table(), q.blockSize, [rows, cols]);
        expect(t.shape).toEqual([rows, cols]);
        expect(t.dataSync()).toEqual(dequantizeNF4(q));
        t.dispose();
      }
    },
  );
});
