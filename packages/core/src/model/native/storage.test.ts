import { describe, expect, it } from "vitest";
import { mulberry32 } from "../../util/mulberry32.ts";
import { dequantizeNF4, quantizeNF4 } from "../adapters/nf4.ts";
import { nativeAddon } from "./load.ts";
import { halfBitsValue, nativeSuite, rand } from "./testing.ts";
import type { HalfDtype, NativeAddon, NativeWeight } from "./types.ts";

const { skip, title } = await nativeSuite(
  "native storage dtypes (conversions, embedding gather and scatter)",
);
const addon = (): NativeAddon => nativeAddon()!;
const DTYPES: HalfDtype[] = ["bf16", "f16"];

/** Whether `bits` is the nearest half to x, ties to the even mantissa (checked against its neighbours). */
function isNearestEven(x: number, bits: number, dtype: HalfDtype): boolean {
  const v = halfBitsValue(bits, dtype);
  if (Number.isNaN(x)) return Number.isNaN(v);
  const maxFinite = dtype === "bf16" ? halfBitsValue(0x7f7f, "bf16") : 65504;
  const ulpMax = dtype === "bf16" ? 2 ** 120 : 32;
  // Past max + half an ulp (ties go to the odd-mantissa max's even neighbour, inf).
  if (Math.abs(x) >= maxFinite + ulpMax / 2) return v === Math.sign(x) * Number.POSITIVE_INFINITY;
  const err = Math.abs(x - v);
  for (const nb of [bits - 1, bits + 1]) {
    if ((nb & 0x7fff) >= (dtype === "bf16" ? 0x7f80 : 0x7c00) || nb < 0 || nb > 0xffff) continue;
    if ((nb & 0x8000) !== (bits & 0x8000) && (bits & 0x7fff) !== 0) continue;
    const e = Math.abs(x - halfBitsValue(nb, dtype));
    if (e < err) return false;
    if (e === err && (bits & 1) === 1) return false;
  }
  return true;
}

describe.skipIf(skip)(title, () => {
  it.each(DTYPES)("toFloat32 decodes every %s bit pattern exactly", (dtype) => {
    const src = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const dst = new Float32Array(65536);
    addon().toFloat32(src, dtype, dst);
    const wrong = [...src].filter((i) => !Object.is(dst[i], halfBitsValue(i, dtype)));
    expect(wrong).toEqual([]);
  });

  it.each(DTYPES)("fromFloat32 rounds to the nearest %s, ties to even", (dtype) => {
    const next = mulberry32(dtype === "bf16" ? 1 : 2);
    const values: number[] = [];
    // Random magnitudes over the whole range, including f16 subnormals and overflow.
    for (let i = 0; i < 20000; i++) values.push((next() - 0.5) * 2 ** Math.floor(next() * 60 - 30));
    // Exact ties between neighbours and edge cases.
    const tie = dtype === "bf16" ? 2 ** -8 : 2 ** -11;
    values.push(1 + tie, 1 + 3 * tie, -(1 + tie), 2 ** -25, 3 * 2 ** -25, 65519, 65520, 65504, 1e-8);
    values.push(0, -0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, 3.4028234663852886e38);
    const src = Float32Array.from(values);
    const dst = new Uint16Array(src.length);
    addon().fromFloat32(src, dtype, dst);
    const wrong = [...src.keys()]
      .filter((i) => !isNearestEven(src[i]!, dst[i]!, dtype))
      .map((i) => `${src[i]} -> 0x${dst[i]!.toString(16)}`);
    expect(wrong).toEqual([]);
    // The tie cases round to the even neighbour: 1 + tie down to 1, 1 + 3 tie up to 1 + 4 tie.
    const back = new Float32Array(src.length);
    addon().toFloat32(dst, dtype, back);
    expect(back[20000]).toBe(1);
    expect(back[20001]).toBe(1 + 4 * tie);
    expect(Object.is(back[20010], -0)).toBe(true);
  });

  it.each(DTYPES)("round-trips every finite %s value", (dtype) => {
    const bits = Uint16Array.from({ length: 65536 }, (_, i) => i).filter(
      (b) => (b & 0x7fff) < (dtype === "bf16" ? 0x7f80 : 0x7c00),
    );
    const f = new Float32Array(bits.length);
    addon().toFloat32(bits, dtype, f);
    const back = new Uint16Array(bits.length);
    addon().fromFloat32(f, dtype, back);
    expect(bits.filter((b, i) => back[i] !== b)).toEqual(new Uint16Array(0));
  });

  it("embeddingGather reads rows of an f32, bf16, f16 and NF4 table", () => {
    const V = 37;
    const dim = 24;
    const values = rand(V * dim, 3, 2);
    const ids = Int32Array.from([5, 0, 36, 5, 17]);
    const tables: [NativeWeight, Float32Array][] = [[{ dtype: "f32", data: values }, values]];
    for (const dtype of DTYPES) {
      const data = new Uint16Array(values.length);
      addon().fromFloat32(values, dtype, data);
      const exact = Float32Array.from(data, (b) => halfBitsValue(b, dtype));
      tables.push([{ dtype, data }, exact]);
    }
    const q = quantizeNF4(values, { blockSize: 64, doubleQuant: true });
    tables.push([{ dtype: "nf4", ...q }, dequantizeNF4(q)]);
    for (const [table, exact] of tables) {
      const out = new Float32Array(ids.length * dim).fill(Number.NaN);
      addon().embeddingGather(table, ids, out, V, dim);
      ids.forEach((id, t) => {
        for (let j = 0; j < dim; j++) expect(out[t * dim + j]).toBeCloseTo(exact[id * dim + j]!, 6);
      });
    }
  });

  it("embeddingGather reads trainable rows from rows.data in place of the stored table", () => {
    const [V, dim] = [9, 6];
    const values = rand(V * dim, 20);
    const bits = new Uint16Array(values.length);
    addon().fromFloat32(values, "bf16", bits);
    const data = rand(2 * dim, 21);
    const rowOf = new Int32Array(V).fill(-1);
    rowOf[7] = 1;
    rowOf[2] = 0;
    const ids = Int32Array.from([7, 1, 2, 7]);
    const out = new Float32Array(ids.length * dim);
    addon().embeddingGather({ dtype: "bf16", data: bits }, ids, out, V, dim, { rowOf, data });
    const row = (a: Float32Array, i: number) => Array.from(a.subarray(i * dim, (i + 1) * dim));
    expect(row(out, 0)).toEqual(row(data, 1));
    expect(row(out, 2)).toEqual(row(data, 0));
    expect(row(out, 3)).toEqual(row(data, 1));
    expect(row(out, 1)).toEqual(Array.from(bits.subarray(dim, 2 * dim), (b) => halfBitsValue(b, "bf16")));
    rowOf[3] = 2;
    expect(() =>
      addon().embeddingGather({ dtype: "bf16", data: bits }, ids, out, V, dim, { rowOf, data }),
    ).toThrow(/rows\.rowOf\[3\] = 2 is past rows\.data's 2 rows/);
  });

  it("embeddingScatterAdd sums repeated ids, and maps ids to trainable rows with rowOf", () => {
    const V = 11;
    const dim = 150;
    const ids = Int32Array.from([3, 7, 3, 10, 3, 0]);
    const dy = rand(ids.length * dim, 9);
    const dTable = rand(V * dim, 10);
    const want = Float64Array.from(dTable);
    ids.forEach((id, t) => {
      for (let j = 0; j < dim; j++) want[id * dim + j]! += dy[t * dim + j]!;
    });
    addon().embeddingScatterAdd(dy, ids, dTable, V, dim, null);
    for (let i = 0; i < want.length; i++) expect(dTable[i]).toBeCloseTo(want[i]!, 5);
    // Only ids 7 and 10 trainable, into rows 1 and 0 of a 2-row gradient.
    const rowOf = new Int32Array(V).fill(-1);
    rowOf[7] = 1;
    rowOf[10] = 0;
    const small = new Float32Array(2 * dim);
    addon().embeddingScatterAdd(dy, ids, small, V, dim, rowOf);
    expect(Array.from(small.subarray(dim))).toEqual(Array.from(dy.subarray(dim, 2 * dim)));
    expect(Array.from(small.subarray(0, dim))).toEqual(Array.from(dy.subarray(3 * dim, 4 * dim)));
  });

  it("rejects ids out of range, short arrays and unknown dtypes with errors naming them", () => {
    const t: NativeWeight = { dtype: "bf16", data: new Uint16Array(20) };
    expect(() => addon().embeddingGather(t, Int32Array.from([4]), new Float32Array(5), 4, 5)).toThrow(
      /ids\[0\] = 4 is outside \[0, 4\)/,
    );
    expect(() => addon().embeddingGather(t, Int32Array.from([1]), new Float32Array(5), 5, 5)).toThrow(
      /table\.data has 20 values, needs 25/,
    );
    expect(() => addon().embeddingGather(t, Int32Array.from([1, 2]), new Float32Array(5), 4, 5)).toThrow(
      /out has 5 values, needs 10/,
    );
    const bad = { dtype: "f8", data: new Uint16Array(20) } as unknown as NativeWeight;
    expect(() => addon().embeddingGather(bad, Int32Array.from([1]), new Float32Array(5), 4, 5)).toThrow(
      /dtype must be f32, bf16, f16 or nf4/,
    );
    expect(() =>
      addon().embeddingScatterAdd(new Float32Array(5), Int32Array.from([1]), new Float32Array(5), 4, 5, null),
    ).toThrow(/dTable has 5 values, needs 20/);
    expect(() => addon().fromFloat32(new Float32Array(3), "bf16", new Uint16Array(2))).toThrow(RangeError);
  });
});
