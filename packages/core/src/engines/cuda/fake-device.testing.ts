// A stand-in for @sftkit/cuda's `device` bindings that keeps their C++ contract (src/device.cc): buffers
// of bytes rounded up to 512, views by byte offset, explicit counts, dw added, dk/dv written, the loss
// summed. The arithmetic is the host add-on's. Tests run DeviceOps over it, so the marshalling from
// the engine's ops to the bindings (sizes in bytes vs values, argument order) is checked without a GPU.
import type { CudaArena, CudaBuffer, CudaDeviceOps, CudaHostAddon } from "@sftkit/cuda";
import { cudaPackage } from "./load.ts";

class FakeBuffer {
  freed = false;
  constructor(
    readonly mem: ArrayBuffer,
    readonly off: number,
    readonly bytes: number,
    readonly owned: boolean,
  ) {}
}

const fb = (b: CudaBuffer): FakeBuffer => {
  const f = b as unknown as FakeBuffer;
  if (!(f instanceof FakeBuffer)) throw new TypeError("expected a device buffer");
  if (f.freed) throw new Error("the buffer was freed");
  return f;
};
const f32 = (b: CudaBuffer) => {
  const f = fb(b);
  return new Float32Array(f.mem, f.off, f.bytes >> 2);
};
const u16 = (b: CudaBuffer) => {
  const f = fb(b);
  return new Uint16Array(f.mem, f.off, f.bytes >> 1);
};
const i32 = (b: CudaBuffer) => {
  const f = fb(b);
  return new Int32Array(f.mem, f.off, f.bytes >> 2);
};
const u8 = (b: CudaBuffer) => {
  const f = fb(b);
  return new Uint8Array(f.mem, f.off, f.bytes);
};
const i8 = (b: CudaBuffer) => {
  const f = fb(b);
  return new Int8Array(f.mem, f.off, f.bytes);
};
const asBuffer = (f: FakeBuffer) => f as unknown as CudaBuffer;

function widen(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const o = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) o[i] = src[i]! << 16;
  return out;
}

/** @sftkit/cuda's host add-on (the kernels built for the CPU), or why it cannot load (tests skip with it). */
export function hostAddon(): CudaHostAddon | string {
  const p = cudaPackage();
  if ("reason" in p) return p.reason;
  const h = p.pkg.loadCudaHost();
  return "reason" in h ? `@sftkit/cuda's host add-on ${h.reason}` : (h.addon as CudaHostAddon);
}

/** The host add-on, or a thrown error naming why it cannot load (inside tests that already skip without it). */
export function requireHostAddon(): CudaHostAddon {
  const k = hostAddon();
  if (typeof k === "string") throw new Error(k);
  return k;
}

/**
 * `free`: the bytes the fake GPU has free (reserve refuses more, as device.cc does). A reserved arena is
 * one ArrayBuffer that allocs are placed in by the host add-on's build of device.cc's sub-allocator
 * (arena.h): overlapping blocks would corrupt the step the tests compare.
 */
export function fakeDevice(k: CudaHostAddon, opts: { free?: number } = {}): CudaDeviceOps {
  const free = opts.free ?? 2 ** 40;
  let inUse = 0;
  let peak = 0;
  let outside = 0;
  type Reserved = { handle: CudaArena; mem: ArrayBuffer };
  let arena: Reserved | null = null;
  const blocks = new Map<FakeBuffer, Reserved>();
  // Timing events: the host's clock (the ops run synchronously here).
  let marks: number[] = [];
  return {
    timingMark: () => {
      marks.push(performance.now());
    },
    timingRead: () => {
      const out = marks.slice(1).map((t, i) => t - marks[i]!);
      marks = [];
      return out;
    },
    init: () => true,
    alloc(bytes, zeroed = true) {
      const size = Math.ceil(Math.max(bytes, 1) / 512) * 512;
      inUse += size;
      peak = Math.max(peak, inUse);
      const off = arena ? k.arenaAlloc(arena.handle, size) : -1;
      const placed = arena && off >= 0 ? arena : null;
      const mem = placed ? placed.mem : new ArrayBuffer(size);
      const f = new FakeBuffer(mem, placed ? off : 0, size, true);
      // Not zeroed: all ones (NaN in f32 and bf16), as a reused block's leftovers could be anything.
      new Uint8Array(mem, placed ? off : 0, size).fill(zeroed ? 0 : 0xff);
      if (placed) blocks.set(f, placed);
      else outside += size;
      return asBuffer(f);
    },
    reserve(bytes) {
      arena = null;
      if (bytes <= 0) return;
      const size = Math.ceil(bytes / 512) * 512;
      // device.cc leaves 256 MiB beside the arena (cuBLASLt, stream-ordered temporaries).
      if (size + 256 * 2 ** 20 > free)
        throw new RangeError(
          `reserve: ${size} B and 256 MiB beside them do not fit the GPU's ${free} B free`,
        );
      arena = { handle: k.arenaNew(size), mem: new ArrayBuffer(size) };
    },
    view(buf, offsetBytes, bytes) {
      const f = fb(buf);
      if (offsetBytes < 0 || offsetBytes + bytes > f.bytes) throw new RangeError("view: out of range");
      return asBuffer(new FakeBuffer(f.mem, f.off + offsetBytes, bytes, false));
    },
    free(buf) {
      const f = fb(buf);
      if (!f.owned) return;
      f.freed = true;
      inUse -= f.bytes;
      const from = blocks.get(f);
      if (!from) outside -= f.bytes;
      else if (!k.arenaFree(from.handle, f.off)) throw new Error("free: no arena block starts there");
      blocks.delete(f);
    },
    upload(buf, src) {
      const f = fb(buf);
      if (src.byteLength > f.bytes) throw new RangeError("copy: the array is larger than the buffer");
      new Uint8Array(f.mem, f.off, src.byteLength).set(
        new Uint8Array(src.buffer, src.byteOffset, src.byteLength),
      );
    },
    download(buf, dst) {
      const f = fb(buf);
      if (dst.byteLength > f.bytes) throw new RangeError("copy: the array is larger than the buffer");
      new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength).set(
        new Uint8Array(f.mem, f.off, dst.byteLength),
      );
    },
    zero: (buf) => u8(buf).fill(0),
    memory: () => {
      const a = arena ? k.arenaStats(arena.handle) : null;
      return {
        inUse,
        peak,
        pooled: 0,
        reserved: a?.capacity ?? 0,
        arenaInUse: a?.inUse ?? 0,
        arenaLargestFree: a?.largestFree ?? 0,
        outside,
        deviceFree: free - (a?.capacity ?? 0),
        deviceTotal: free,
      };
    },
    sync: () => {},
    resetPeak: () => {
      peak = inUse;
    },
    toBf16: (src, dst, n) => k.bf16(f32(src).subarray(0, n), u16(dst).subarray(0, n)),
    gemm(ta, tb, M, N, K, A, B, C, alpha, beta, isF32) {
      const a = isF32 ? f32(A) : widen(u16(A));
      const b = isF32 ? f32(B) : widen(u16(B));
      const c = f32(C);
      for (let i = 0; i < M; i++)
        for (let j = 0; j < N; j++) {
          let s = 0;
          for (let x = 0; x < K; x++)
            s += (ta ? a[x * M + i]! : a[i * K + x]!) * (tb ? b[j * K + x]! : b[x * N + j]!);
          c[i * N + j] = alpha * s + (beta === 0 ? 0 : beta * c[i * N + j]!);
        }
    },
    rmsNormForward: (x, w, y, rstd, rows, dim, eps) =>
      k.rmsNormForward(f32(x), f32(w), f32(y), f32(rstd), rows, dim, eps),
    rmsNormBackward(dy, x, w, rstd, dx, dw, rows, dim) {
      const tmp = dw ? new Float32Array(dim) : null;
      k.rmsNormBackward(f32(dy), f32(x), f32(w), f32(rstd), f32(dx), tmp, rows, dim);
      if (dw && tmp) {
        const g = f32(dw);
        for (let i = 0; i < dim; i++) g[i]! += tmp[i]!;
      }
    },
    rope(x, cos, sin, y, T, heads, hd, inverse) {
      const n = T * heads * hd;
      const src = f32(x).slice(0, n);
      k.rope(src, f32(cos), f32(sin), f32(y).subarray(0, n), T, heads, hd, inverse);
    },
    swigluForward: (g, u, y, n) => k.swigluForward(f32(g), f32(u), f32(y), n),
    swigluBackward: (dy, g, u, dg, du, n) => k.swigluBackward(f32(dy), f32(g), f32(u), f32(dg), f32(du), n),
    attentionForward: (q, kk, v, seg, out, lse, B, S, K, H, KV, hd, scale) =>
      k.attentionForward(
        f32(q),
        f32(kk),
        f32(v),
        seg && i32(seg),
        f32(out),
        f32(lse),
        B,
        S,
        K,
        H,
        KV,
        hd,
        scale,
      ),
    attentionBackward: (q, kk, v, seg, out, lse, dout, dq, dk, dv, B, S, K, H, KV, hd, scale) =>
      k.attentionBackward(
        f32(q),
        f32(kk),
        f32(v),
        seg && i32(seg),
        f32(out),
        f32(lse),
        f32(dout),
        f32(dq),
        f32(dk),
        f32(dv),
        B,
        S,
        K,
        H,
        KV,
        hd,
        scale,
      ),
    crossEntropy: (logits, targets, rows, V, gradScale, grad) =>
      k.crossEntropy(
        f32(logits).subarray(0, rows * V),
        i32(targets).subarray(0, rows),
        rows,
        V,
        gradScale,
        grad && f32(grad).subarray(0, rows * V),
      ),
    crossEntropyRows(logits, targets, rows, V, gradScale, grad, rowLoss) {
      const l = f32(logits);
      const t = i32(targets);
      const g = grad && f32(grad);
      const out = f32(rowLoss);
      if (out.length < rows) throw new RangeError("crossEntropyRows: rowLoss too small");
      for (let r = 0; r < rows; r++) {
        const row = (a: Float32Array) => a.subarray(r * V, (r + 1) * V);
        out[r] = k.crossEntropy(row(l), t.subarray(r, r + 1), 1, V, gradScale, g && row(g));
      }
    },
    adamw: (p, g, m, v, n, lr, b1, b2, eps, wd, c1, c2, gradScale) =>
      k.adamwInPlace(
        f32(p).subarray(0, n),
        f32(g).subarray(0, n),
        f32(m).subarray(0, n),
        f32(v).subarray(0, n),
        lr,
        b1,
        b2,
        eps,
        wd,
        c1,
        c2,
        gradScale,
      ),
    nf4Dequantize(codes, absmax, absmaxCodes, absmaxScales, offset, blockSize, outBf16, n) {
      const tmp = new Float32Array(n);
      k.nf4Dequantize(
        u8(codes),
        absmax && f32(absmax),
        absmaxCodes && i8(absmaxCodes),
        absmaxScales && f32(absmaxScales),
        offset,
        blockSize,
        tmp,
      );
      k.bf16(tmp, u16(outBf16).subarray(0, n));
    },
    embeddingGather: (table, ids, out, T, dim) =>
      k.embeddingGather(
        u16(table),
        i32(ids).subarray(0, T),
        f32(out),
        Math.floor(u16(table).length / dim),
        dim,
      ),
    embeddingScatterAdd: (dy, ids, dTable, T, dim) =>
      k.embeddingScatterAdd(
        f32(dy),
        i32(ids).subarray(0, T),
        f32(dTable),
        Math.floor(f32(dTable).length / dim),
        dim,
      ),
    copy(dst, src, bytes) {
      const d = fb(dst);
      const s = fb(src);
      if (bytes < 0 || bytes > d.bytes || bytes > s.bytes) throw new RangeError("copy: out of range");
      new Uint8Array(d.mem, d.off, bytes).set(new Uint8Array(s.mem, s.off, bytes));
    },
    axpy(dst, src, alpha, n) {
      const d = f32(dst);
      const s = f32(src);
      for (let i = 0; i < n; i++) d[i]! += alpha * s[i]!;
    },
    addBias(y, b, rows, cols) {
      const Y = f32(y);
      const B = f32(b);
      for (let i = 0; i < rows * cols; i++) Y[i]! += B[i % cols]!;
    },
    biasGrad(db, dy, rows, cols) {
      const D = f32(db);
      const Y = f32(dy);
      for (let c = 0; c < cols; c++) {
        let s = 0;
        for (let r = 0; r < rows; r++) s += Y[r * cols + c]!;
        D[c]! += s;
      }
    },
    sumSquaresMany(xs, counts) {
      if (xs.length !== counts.length) throw new RangeError("sumSquaresMany: arrays of different lengths");
      return xs.map((x, i) => this.sumSquares(x, counts[i]!));
    },
    sumSquares(x, n) {
      const a = f32(x);
      let s = 0;
      for (let i = 0; i < n; i++) s += a[i]! * a[i]!;
      return s;
    },
  };
}
