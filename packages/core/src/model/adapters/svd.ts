// The r leading singular triplets of a dense matrix in plain float64: exactly (Jacobi on the smaller Gram
// matrix) or by seeded randomised subspace iteration (Halko et al., as torch.svd_lowrank with q = r, which
// PEFT's `pissa_niter_N` calls). Engine-agnostic: plain arrays in, plain arrays out.
import { normalArray } from "./random.ts";

export interface TruncatedSvd {
  rank: number;
  /** Left singular vectors [rows, rank] row-major. */
  u: Float64Array;
  /** Singular values, descending. */
  s: Float64Array;
  /** Right singular vectors transposed [rank, cols] row-major. */
  vt: Float64Array;
}

/** Eigen-decomposition of a symmetric n×n matrix (cyclic Jacobi): eigenvalues descending, eigenvectors as columns. */
export function symmetricEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const m = Float64Array.from(a);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    let diag = 0;
    for (let i = 0; i < n; i++) {
      diag += m[i * n + i]! ** 2;
      for (let j = i + 1; j < n; j++) off += m[i * n + j]! ** 2;
    }
    if (off <= 1e-30 * diag || off === 0) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q]!;
        if (apq === 0) continue;
        const app = m[p * n + p]!;
        const aqq = m[q * n + q]!;
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k * n + p]!;
          const mkq = m[k * n + q]!;
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p * n + k]!;
          const mqk = m[q * n + k]!;
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!;
          const vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = [...Array(n).keys()].sort((i, j) => m[j * n + j]! - m[i * n + i]!);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = m[src * n + src]!;
    for (let k = 0; k < n; k++) vectors[k * n + dst] = v[k * n + src]!;
  });
  return { values, vectors };
}

/** C = op(A)·op(B) for row-major matrices (op: transpose when asked); A is [r, k] after op, B [k, c]. */
function matmul(
  a: Float64Array,
  b: Float64Array,
  r: number,
  k: number,
  c: number,
  transA = false,
  transB = false,
): Float64Array {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++)
    for (let p = 0; p < k; p++) {
      const x = transA ? a[p * r + i]! : a[i * k + p]!;
      if (x === 0) continue;
      for (let j = 0; j < c; j++) out[i * c + j]! += x * (transB ? b[j * k + p]! : b[p * c + j]!);
    }
  return out;
}

/** Orthonormalises the columns of q [rows, cols] in place (modified Gram-Schmidt, twice for stability). */
function orthonormalize(q: Float64Array, rows: number, cols: number): void {
  for (let pass = 0; pass < 2; pass++)
    for (let j = 0; j < cols; j++) {
      for (let i = 0; i < j; i++) {
        let d = 0;
        for (let k = 0; k < rows; k++) d += q[k * cols + i]! * q[k * cols + j]!;
        for (let k = 0; k < rows; k++) q[k * cols + j]! -= d * q[k * cols + i]!;
      }
      let n = 0;
      for (let k = 0; k < rows; k++) n += q[k * cols + j]! ** 2;
      const inv = n > 0 ? 1 / Math.sqrt(n) : 0;
      for (let k = 0; k < rows; k++) q[k * cols + j]! *= inv;
    }
}

/** The `rank` leading singular triplets of w [rows, cols] from its smaller Gram matrix (exact up to float64). */
export function exactSvd(w: Float64Array, rows: number, cols: number, rank: number): TruncatedSvd {
  const r = Math.min(rank, rows, cols);
  const u = new Float64Array(rows * r);
  const s = new Float64Array(r);
  const vt = new Float64Array(r * cols);
  if (rows <= cols) {
    // W·Wᵀ = U Σ² Uᵀ, then Vᵀ = Σ⁻¹ Uᵀ W.
    const { values, vectors } = symmetricEigen(matmul(w, w, rows, cols, rows, false, true), rows);
    for (let j = 0; j < r; j++) {
      s[j] = Math.sqrt(Math.max(values[j]!, 0));
      for (let i = 0; i < rows; i++) u[i * r + j] = vectors[i * rows + j]!;
    }
    const ut = matmul(u, w, r, rows, cols, true);
    for (let j = 0; j < r; j++)
      for (let c = 0; c < cols; c++) vt[j * cols + c] = ut[j * cols + c]! / (s[j] || 1);
  } else {
    // Wᵀ·W = V Σ² Vᵀ, then U = W V Σ⁻¹.
    const { values, vectors } = symmetricEigen(matmul(w, w, cols, rows, cols, true), cols);
    for (let j = 0; j < r; j++) {
      s[j] = Math.sqrt(Math.max(values[j]!, 0));
      for (let c = 0; c < cols; c++) vt[j * cols + c] = vectors[c * cols + j]!;
    }
    const wv = matmul(w, vt, rows, cols, r, false, true);
    for (let i = 0; i < rows; i++) for (let j = 0; j < r; j++) u[i * r + j] = wv[i * r + j]! / (s[j] || 1);
  }
  return { rank: r, u, s, vt };
}

/**
 * torch.svd_lowrank(w, q = rank, niter) as PEFT's `pissa_niter_N` calls it: a Gaussian sketch (seeded here),
 * `niter` power iterations with re-orthonormalisation, then the exact SVD of the small projected matrix.
 */
export function randomizedSvd(
  w: Float64Array,
  rows: number,
  cols: number,
  rank: number,
  niter: number,
  seed: number,
): TruncatedSvd {
  const q = Math.min(rank, rows, cols);
  const omega = Float64Array.from(normalArray(cols * q, 1, seed));
  let y = matmul(w, omega, rows, cols, q);
  orthonormalize(y, rows, q);
  for (let it = 0; it < niter; it++) {
    const z = matmul(w, y, cols, rows, q, true);
    orthonormalize(z, cols, q);
    y = matmul(w, z, rows, cols, q);
    orthonormalize(y, rows, q);
  }
  // B = Qᵀ W [q, cols]; W ≈ Q B = (Q Ub) Σ Vᵀ.
  const b = matmul(y, w, q, rows, cols, true);
  const small = exactSvd(b, q, cols, q);
  return { rank: q, u: matmul(y, small.u, rows, q, q), s: small.s, vt: small.vt };
}
