// A minimal Parquet writer for tests (no parquet writer is a dependency): strings, int64, structs and
// lists of structs, PLAIN pages v1, codecs UNCOMPRESSED, SNAPPY (literal-only) and ZSTD (raw blocks).

export type Codec = "UNCOMPRESSED" | "SNAPPY" | "ZSTD";

/** A column: a string, an int64, a struct of such fields, or a list of structs. */
export type ColumnSpec =
  | { name: string; type: "string" }
  | { name: string; type: "int64" }
  | { name: string; type: "struct"; fields: { name: string; type: "string" | "int64" }[] }
  | { name: string; type: "list"; fields: { name: string; type: "string" | "int64" }[] };

class Out {
  bytes: number[] = [];
  byte(b: number) {
    this.bytes.push(b & 0xff);
  }
  varint(n: bigint | number) {
    let v = BigInt(n);
    while (v >= 0x80n) {
      this.byte(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.byte(Number(v));
  }
  raw(b: Uint8Array | number[]) {
    for (const x of b) this.bytes.push(x);
  }
}

// Thrift compact protocol, just enough for the footer and page headers.
type TValue =
  | { t: "i32"; v: number }
  | { t: "i64"; v: number | bigint }
  | { t: "bin"; v: string }
  | { t: "list"; el: 5 | 8 | 12; v: TValue[] }
  | { t: "struct"; v: TStruct };
type TStruct = [number, TValue][];
const typeId = { i32: 5, i64: 6, bin: 8, list: 9, struct: 12 } as const;
const zigzag = (n: number | bigint) => {
  const v = BigInt(n);
  return v >= 0n ? v << 1n : (-v << 1n) - 1n;
};
function writeValue(o: Out, v: TValue) {
  if (v.t === "i32" || v.t === "i64") o.varint(zigzag(v.v));
  else if (v.t === "bin") {
    const b = new TextEncoder().encode(v.v);
    o.varint(b.length);
    o.raw(b);
  } else if (v.t === "list") {
    if (v.v.length < 15) o.byte((v.v.length << 4) | v.el);
    else {
      o.byte(0xf0 | v.el);
      o.varint(v.v.length);
    }
    for (const x of v.v) writeValue(o, x);
  } else writeStruct(o, v.v);
}
function writeStruct(o: Out, fields: TStruct) {
  let last = 0;
  for (const [id, v] of fields) {
    const delta = id - last;
    if (delta > 0 && delta <= 15) o.byte((delta << 4) | typeId[v.t]);
    else {
      o.byte(typeId[v.t]);
      o.varint(zigzag(id));
    }
    writeValue(o, v);
    last = id;
  }
  o.byte(0);
}
const i32 = (v: number): TValue => ({ t: "i32", v });
const i64 = (v: number | bigint): TValue => ({ t: "i64", v });
const bin = (v: string): TValue => ({ t: "bin", v });

function snappy(data: Uint8Array): Uint8Array {
  const o = new Out();
  o.varint(data.length);
  for (let s = 0; s < data.length; s += 65536) {
    const chunk = data.subarray(s, s + 65536);
    o.byte(61 << 2); // literal, length - 1 in the next two bytes
    o.byte((chunk.length - 1) & 0xff);
    o.byte((chunk.length - 1) >> 8);
    o.raw(chunk);
  }
  return Uint8Array.from(o.bytes);
}

function zstd(data: Uint8Array): Uint8Array {
  const o = new Out();
  o.raw([0x28, 0xb5, 0x2f, 0xfd, 0xa0]); // magic; single segment, 4-byte content size
  o.raw([data.length & 0xff, (data.length >> 8) & 0xff, (data.length >> 16) & 0xff, data.length >>> 24]);
  const blocks = Math.max(1, Math.ceil(data.length / 65536));
  for (let b = 0; b < blocks; b++) {
    const chunk = data.subarray(b * 65536, (b + 1) * 65536);
    const header = (chunk.length << 3) | (b === blocks - 1 ? 1 : 0); // raw block
    o.raw([header & 0xff, (header >> 8) & 0xff, (header >> 16) & 0xff]);
    o.raw(chunk);
  }
  return Uint8Array.from(o.bytes);
}

/** Levels as RLE runs of one value each (valid RLE/bit-packed hybrid), prefixed by their byte length. */
function levels(o: Out, values: number[], max: number) {
  if (max === 0) return;
  const width = Math.ceil(Math.log2(max + 1));
  const runs = new Out();
  for (const v of values) {
    runs.varint(1 << 1);
    for (let b = 0; b < Math.ceil(width / 8); b++) runs.byte(v >> (8 * b));
  }
  const n = runs.bytes.length;
  o.raw([n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24]);
  o.raw(runs.bytes);
}

interface Leaf {
  path: string[];
  type: "string" | "int64";
  maxDef: number;
  maxRep: number;
  /** rep levels, def levels and present values for one row. */
  shred(row: Record<string, unknown>): { rep: number[]; def: number[]; values: unknown[] };
}

function leaves(cols: ColumnSpec[]): Leaf[] {
  const out: Leaf[] = [];
  for (const c of cols) {
    if (c.type === "string" || c.type === "int64") {
      out.push({
        path: [c.name],
        type: c.type,
        maxDef: 1,
        maxRep: 0,
        shred: (r) =>
          r[c.name] == null
            ? { rep: [0], def: [0], values: [] }
            : { rep: [0], def: [1], values: [r[c.name]] },
      });
    } else if (c.type === "struct") {
      for (const f of c.fields) {
        out.push({
          path: [c.name, f.name],
          type: f.type,
          maxDef: 2,
          maxRep: 0,
          shred: (r) => {
            const s = r[c.name] as Record<string, unknown> | null | undefined;
            if (s == null) return { rep: [0], def: [0], values: [] };
            return s[f.name] == null
              ? { rep: [0], def: [1], values: [] }
              : { rep: [0], def: [2], values: [s[f.name]] };
          },
        });
      }
    } else {
      for (const f of c.fields) {
        out.push({
          path: [c.name, "list", "element", f.name],
          type: f.type,
          maxDef: 4,
          maxRep: 1,
          shred: (r) => {
            const list = r[c.name] as Record<string, unknown>[] | null | undefined;
            if (list == null) return { rep: [0], def: [0], values: [] };
            if (list.length === 0) return { rep: [0], def: [1], values: [] };
            const rep: number[] = [];
            const def: number[] = [];
            const values: unknown[] = [];
            list.forEach((el, k) => {
              rep.push(k === 0 ? 0 : 1);
              if (el[f.name] == null) def.push(3);
              else {
                def.push(4);
                values.push(el[f.name]);
              }
            });
            return { rep, def, values };
          },
        });
      }
    }
  }
  return out;
}

function schema(cols: ColumnSpec[]): TValue[] {
  const el = (fields: TStruct): TValue => ({ t: "struct", v: fields });
  const leaf = (name: string, type: "string" | "int64"): TValue =>
    el(
      type === "string"
        ? [
            [1, i32(6)],
            [3, i32(1)],
            [4, bin(name)],
            [6, i32(0)],
          ]
        : [
            [1, i32(2)],
            [3, i32(1)],
            [4, bin(name)],
          ],
    );
  const out: TValue[] = [
    el([
      [4, bin("schema")],
      [5, i32(cols.length)],
    ]),
  ];
  for (const c of cols) {
    if (c.type === "string" || c.type === "int64") out.push(leaf(c.name, c.type));
    else if (c.type === "struct") {
      out.push(
        el([
          [3, i32(1)],
          [4, bin(c.name)],
          [5, i32(c.fields.length)],
        ]),
      );
      for (const f of c.fields) out.push(leaf(f.name, f.type));
    } else {
      out.push(
        el([
          [3, i32(1)],
          [4, bin(c.name)],
          [5, i32(1)],
          [6, i32(3)],
        ]),
      );
      out.push(
        el([
          [3, i32(2)],
          [4, bin("list")],
          [5, i32(1)],
        ]),
      );
      out.push(
        el([
          [3, i32(1)],
          [4, bin("element")],
          [5, i32(c.fields.length)],
        ]),
      );
      for (const f of c.fields) out.push(leaf(f.name, f.type));
    }
  }
  return out;
}

/** Parquet bytes for these rows, split into row groups of `rowGroupSize`. */
export function writeParquet(
  cols: ColumnSpec[],
  rows: Record<string, unknown>[],
  opts: { codec?: Codec; rowGroupSize?: number } = {},
): Uint8Array {
  const codec = opts.codec ?? "UNCOMPRESSED";
  const codecId = { UNCOMPRESSED: 0, SNAPPY: 1, ZSTD: 6 }[codec];
  const file = new Out();
  file.raw([0x50, 0x41, 0x52, 0x31]);
  const groups: TValue[] = [];
  const size = opts.rowGroupSize ?? Math.max(1, rows.length);
  for (let start = 0; start < rows.length; start += size) {
    const part = rows.slice(start, start + size);
    const chunks: TValue[] = [];
    let groupBytes = 0;
    for (const leaf of leaves(cols)) {
      const rep: number[] = [];
      const def: number[] = [];
      const values: unknown[] = [];
      for (const r of part) {
        const s = leaf.shred(r);
        rep.push(...s.rep);
        def.push(...s.def);
        values.push(...s.values);
      }
      const page = new Out();
      levels(page, rep, leaf.maxRep);
      levels(page, def, leaf.maxDef);
      for (const v of values) {
        if (leaf.type === "string") {
          const b = new TextEncoder().encode(String(v));
          page.raw([b.length & 0xff, (b.length >> 8) & 0xff, (b.length >> 16) & 0xff, b.length >>> 24]);
          page.raw(b);
        } else {
          const big = BigInt.asUintN(64, BigInt(v as number));
          for (let k = 0n; k < 8n; k++) page.byte(Number((big >> (8n * k)) & 0xffn));
        }
      }
      const raw = Uint8Array.from(page.bytes);
      const body = codec === "SNAPPY" ? snappy(raw) : codec === "ZSTD" ? zstd(raw) : raw;
      const header = new Out();
      writeStruct(header, [
        [1, i32(0)],
        [2, i32(raw.length)],
        [3, i32(body.length)],
        [
          5,
          {
            t: "struct",
            v: [
              [1, i32(def.length)],
              [2, i32(0)],
              [3, i32(3)],
              [4, i32(3)],
            ],
          },
        ],
      ]);
      const offset = file.bytes.length;
      file.raw(header.bytes);
      file.raw(body);
      const total = header.bytes.length + body.length;
      groupBytes += total;
      chunks.push({
        t: "struct",
        v: [
          [2, i64(offset)],
          [
            3,
            {
              t: "struct",
              v: [
                [1, i32(leaf.type === "string" ? 6 : 2)],
                [2, { t: "list", el: 5, v: [i32(0), i32(3)] }],
                [3, { t: "list", el: 8, v: leaf.path.map(bin) }],
                [4, i32(codecId)],
                [5, i64(def.length)],
                [6, i64(header.bytes.length + raw.length)],
                [7, i64(total)],
                [9, i64(offset)],
              ],
            },
          ],
        ],
      });
    }
    groups.push({
      t: "struct",
      v: [
        [1, { t: "list", el: 12, v: chunks }],
        [2, i64(groupBytes)],
        [3, i64(part.length)],
      ],
    });
  }
  const meta = new Out();
  writeStruct(meta, [
    [1, i32(1)],
    [2, { t: "list", el: 12, v: schema(cols) }],
    [3, i64(rows.length)],
    [4, { t: "list", el: 12, v: groups }],
    [6, bin("sftkit tiny-parquet")],
  ]);
  file.raw(meta.bytes);
  const n = meta.bytes.length;
  file.raw([n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24, 0x50, 0x41, 0x52, 0x31]);
  return Uint8Array.from(file.bytes);
}
