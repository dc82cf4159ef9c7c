// Small dense linear algebra for update detection and adapter extraction: symmetric eigen-decomposition (Jacobi)
// and a randomized truncated SVD of a row-major float32 matrix. Deterministic: random test vectors come from the
// counter-based Philox stream, sums run in float64 in a fixed order.

import { uniform53At } from './rng.js';

/** Jacobi sweeps before giving up; a k×k matrix with k ≤ 128 converges in well under 20. */
const MAX_JACOBI_SWEEPS = 60;

/**
 * Eigen-decomposition of a symmetric n×n matrix (row-major float64, not modified): eigenvalues in descending order
 * and the matching eigenvectors as the columns of `vectors` (row-major n×n).
 *
 * @example const { values } = symmetricEigen(new Float64Array([2, 0, 0, 1]), 2); // values → [2, 1]
 */
export function symmetricEigen(matrix: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < MAX_JACOBI_SWEEPS; sweep++) {
    let off = 0;
    let total = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const x = a[i * n + j]! * a[i * n + j]!;
        total += x;
        if (i !== j) off += x;
      }
    }
    if (off <= 1e-30 * total || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (apq === 0) continue;
        const app = a[p * n + p]!;
        const aqq = a[q * n + q]!;
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p]!;
          const akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k]!;
          const aqk = a[q * n + k]!;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
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
  const order = [...Array(n).keys()].sort((x, y) => a[y * n + y]! - a[x * n + x]! || x - y);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = a[src * n + src]!;
    for (let k = 0; k < n; k++) vectors[k * n + dst] = v[k * n + src]!;
  });
  return { values, vectors };
}

/** A rank-r factorisation `matrix ≈ left · right`: left is rows×r, right is r×cols, both row-major float32. */
export interface LowRankFactorization {
  rank: number;
  left: Float32Array;
  right: Float32Array;
  /** Singular values found (descending), including those beyond `rank`. */
  singularValues: Float64Array;
}

/** Orthonormalises the columns of a rows×k float64 matrix in place (modified Gram–Schmidt, twice); returns k kept. */
function orthonormalizeColumns(q: Float64Array, rows: number, k: number): void {
  for (let pass = 0; pass < 2; pass++) {
    for (let j = 0; j < k; j++) {
      for (let p = 0; p < j; p++) {
        let d = 0;
        for (let i = 0; i < rows; i++) d += q[i * k + p]! * q[i * k + j]!;
        for (let i = 0; i < rows; i++) q[i * k + j]! -= d * q[i * k + p]!;
      }
      let norm = 0;
      for (let i = 0; i < rows; i++) norm += q[i * k + j]! * q[i * k + j]!;
      norm = Math.sqrt(norm);
      for (let i = 0; i < rows; i++) q[i * k + j] = norm > 1e-300 ? q[i * k + j]! / norm : 0;
    }
  }
}

/**
 * Randomized truncated SVD (Halko, Martinsson & Tropp 2011, Alg. 4.4 with `powerIterations` subspace iterations)
 * of a rows×cols row-major float32 matrix: returns factors of rank ≤ `rank` whose product approximates it.
 * `oversample` extra test vectors improve accuracy. Deterministic from `seed`.
 *
 * @example const f = randomizedSvd({ matrix: delta, rows: 128, cols: 64, rank: 4 });
 */
export function randomizedSvd(options: {
  matrix: Float32Array;
  rows: number;
  cols: number;
  rank: number;
  oversample?: number;
  powerIterations?: number;
  seed?: number;
}): LowRankFactorization {
  const { matrix, rows, cols } = options;
  const k = Math.min(options.rank + (options.oversample ?? 8), rows, cols);
  const seed = options.seed ?? 0;
  // Ω: cols×k Gaussian-ish test matrix (uniform in [-1, 1) suffices for a range finder).
  const omega = new Float64Array(cols * k);
  for (let i = 0; i < omega.length; i++) omega[i] = 2 * uniform53At(seed, 7, i) - 1;
  let y = multiplyRight(matrix, rows, cols, omega, k); // rows×k
  orthonormalizeColumns(y, rows, k);
  for (let it = 0; it < (options.powerIterations ?? 1); it++) {
    const z = multiplyTransposeLeft(matrix, rows, cols, y, k); // cols×k
    orthonormalizeColumns(z, cols, k);
    y = multiplyRight(matrix, rows, cols, z, k);
    orthonormalizeColumns(y, rows, k);
  }
  // B = Qᵀ·M (k×cols); SVD of B via the eigen-decomposition of B·Bᵀ (k×k).
  const bt = multiplyTransposeLeft(matrix, rows, cols, y, k); // cols×k = Mᵀ Q = Bᵀ
  const gram = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = i; j < k; j++) {
      let s = 0;
      for (let c = 0; c < cols; c++) s += bt[c * k + i]! * bt[c * k + j]!;
      gram[i * k + j] = s;
      gram[j * k + i] = s;
    }
  }
  const { values, vectors } = symmetricEigen(gram, k);
  const singularValues = values.map((x) => Math.sqrt(Math.max(0, x)));
  const r = Math.min(options.rank, k);
  // left = Q·U_r (rows×r), right = U_rᵀ·B (r×cols): M ≈ Q Qᵀ M = Q U Uᵀ B.
  const left = new Float32Array(rows * r);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < r; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += y[i * k + p]! * vectors[p * k + j]!;
      left[i * r + j] = s;
    }
  }
  const right = new Float32Array(r * cols);
  for (let j = 0; j < r; j++) {
    for (let c = 0; c < cols; c++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += vectors[p * k + j]! * bt[c * k + p]!;
      right[j * cols + c] = s;
    }
  }
  return { rank: r, left, right, singularValues };
}

/** M (rows×cols, f32) · X (cols×k, f64) → rows×k f64. */
function multiplyRight(m: Float32Array, rows: number, cols: number, x: Float64Array, k: number): Float64Array {
  const out = new Float64Array(rows * k);
  const acc = new Float64Array(k);
  for (let i = 0; i < rows; i++) {
    acc.fill(0);
    const base = i * cols;
    for (let c = 0; c < cols; c++) {
      const v = m[base + c]!;
      if (v === 0) continue;
      const xo = c * k;
      for (let j = 0; j < k; j++) acc[j]! += v * x[xo + j]!;
    }
    out.set(acc, i * k);
  }
  return out;
}

/** Mᵀ (cols×rows) · Y (rows×k, f64) → cols×k f64. */
function multiplyTransposeLeft(m: Float32Array, rows: number, cols: number, y: Float64Array, k: number): Float64Array {
  const out = new Float64Array(cols * k);
  for (let i = 0; i < rows; i++) {
    const base = i * cols;
    const yo = i * k;
    for (let c = 0; c < cols; c++) {
      const v = m[base + c]!;
      if (v === 0) continue;
      const oo = c * k;
      for (let j = 0; j < k; j++) out[oo + j]! += v * y[yo + j]!;
    }
  }
  return out;
}

/**
 * The smallest rank whose leading singular values hold `energy` of a matrix's squared Frobenius norm, estimated
 * from `sampleRows` rows (evenly spaced) — a cheap test of "is this change low-rank?" before any factorisation.
 * Returns `undefined` when even `maxRank` does not reach `energy`, or the matrix is zero.
 */
export function estimateLowRank(options: {
  matrix: Float32Array;
  rows: number;
  cols: number;
  maxRank: number;
  energy: number;
  sampleRows?: number;
}): number | undefined {
  return estimateLowRanks({ ...options, energies: [options.energy] })[0];
}

/**
 * {@link estimateLowRank} for several energy shares at once (one eigen-decomposition): for each share, the
 * smallest rank ≤ maxRank holding it, or `undefined`.
 */
export function estimateLowRanks(options: {
  matrix: Float32Array;
  rows: number;
  cols: number;
  maxRank: number;
  energies: readonly number[];
  sampleRows?: number;
}): (number | undefined)[] {
  const none = options.energies.map(() => undefined);
  const { matrix, rows, cols } = options;
  const s = Math.min(rows, options.sampleRows ?? options.maxRank + 32);
  const picked: number[] = [];
  for (let i = 0; i < s; i++) picked.push(Math.floor((i * rows) / s));
  const gram = new Float64Array(s * s);
  for (let i = 0; i < s; i++) {
    const ri = picked[i]! * cols;
    for (let j = i; j < s; j++) {
      const rj = picked[j]! * cols;
      let sum = 0;
      for (let c = 0; c < cols; c++) sum += matrix[ri + c]! * matrix[rj + c]!;
      gram[i * s + j] = sum;
      gram[j * s + i] = sum;
    }
  }
  // Participation ratio (Σλ)²/Σλ² = trace(G)²/‖G‖²_F never exceeds the rank: a change whose ratio is well above
  // maxRank (a dense fine-tune: ≈ s) is rejected without the O(s³) eigen-decomposition.
  let trace = 0;
  let frob = 0;
  for (let i = 0; i < s; i++) trace += gram[i * s + i]!;
  for (let i = 0; i < s * s; i++) frob += gram[i]! * gram[i]!;
  if (!(frob > 0) || !Number.isFinite(frob)) return none;
  if ((trace * trace) / frob > 1.25 * options.maxRank) return none;
  const { values } = symmetricEigen(gram, s);
  let total = 0;
  for (const v of values) total += Math.max(0, v);
  if (!(total > 0) || !Number.isFinite(total)) return none;
  return options.energies.map((energy) => {
    let captured = 0;
    for (let r = 0; r < Math.min(options.maxRank, s); r++) {
      captured += Math.max(0, values[r]!);
      if (captured >= energy * total) return r + 1;
    }
    return undefined;
  });
}

/**
 * Rounds float32 values in place to `bits` bits of mantissa (of 23), to the nearest. Factors of an inferred
 * low-rank change need no more than their estimation error (≈ 1e-3 relative); their dropped low bits are zeros
 * that byte-grouped compression stores for almost nothing. Infinities and NaNs are left as they are.
 *
 * @example roundMantissa(factors, 12);
 */
export function roundMantissa(values: Float32Array, bits: number): void {
  const drop = 23 - Math.max(0, Math.min(23, Math.floor(bits)));
  if (drop === 0) return;
  const u = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const half = 1 << (drop - 1);
  const mask = ~((1 << drop) - 1) >>> 0;
  for (let i = 0; i < u.length; i++) {
    const x = u[i]!;
    if ((x & 0x7f800000) === 0x7f800000) continue;
    // Adding half a step to the bit pattern rounds the magnitude; a carry into the exponent is the next binade.
    const r = ((x + half) & mask) >>> 0;
    u[i] = (r & 0x7f800000) === 0x7f800000 ? x : r;
  }
}

/**
 * Re-solves the left factor of `matrix ≈ left · right` row by row by weighted least squares (`right` fixed):
 * row i minimises Σ_c weights[i·cols + c] · (matrix[i, c] − left[i, :] · right[:, c])². With weights 1/ulp² of the
 * values a rounded change was observed through, this is close to the maximum-likelihood fit: elements near zero,
 * whose rounding noise is tiny, pin the factors down, where a plain SVD is dominated by the noise of large ones.
 * A row whose system is singular keeps its factors. `left` is updated in place.
 *
 * @example refitLeftWeighted({ matrix: delta, rows, cols, rank, left, right, weights });
 */
export function refitLeftWeighted(options: {
  matrix: Float32Array;
  rows: number;
  cols: number;
  rank: number;
  left: Float32Array;
  right: Float32Array;
  weights: Float32Array;
}): void {
  const { matrix, rows, cols, rank: r, left, right, weights } = options;
  const normal = new Float64Array(r * r);
  const rhs = new Float64Array(r);
  // Per row: wr[p] = w ⊙ right[p] (r vectors of cols), then normal[p][q] = wr[p] · right[q] and rhs[p] = wr[p] ·
  // row — dot products over contiguous memory, the loop shape the JIT runs fastest.
  const rightRows = Array.from({ length: r }, (_, p) => Float64Array.from(right.subarray(p * cols, (p + 1) * cols)));
  const wr = Array.from({ length: r }, () => new Float64Array(cols));
  for (let i = 0; i < rows; i++) {
    const base = i * cols;
    const w = weights.subarray(base, base + cols);
    const row = matrix.subarray(base, base + cols);
    for (let p = 0; p < r; p++) {
      const rp = rightRows[p]!;
      const wp = wr[p]!;
      for (let c = 0; c < cols; c++) wp[c] = w[c]! * rp[c]!;
    }
    for (let p = 0; p < r; p++) {
      const wp = wr[p]!;
      let sr = 0;
      for (let c = 0; c < cols; c++) sr += wp[c]! * row[c]!;
      rhs[p] = sr;
      for (let q = 0; q <= p; q++) {
        const rq = rightRows[q]!;
        let s = 0;
        for (let c = 0; c < cols; c++) s += wp[c]! * rq[c]!;
        normal[p * r + q] = s;
        normal[q * r + p] = s;
      }
    }
    const x = solveSymmetric(normal, rhs, r);
    if (x) for (let p = 0; p < r; p++) left[i * r + p] = x[p]!;
  }
}

/** Solves the r×r system by Gaussian elimination with partial pivoting; undefined when it is (nearly) singular. */
function solveSymmetric(a: Float64Array, b: Float64Array, r: number): Float64Array | undefined {
  const m = Float64Array.from(a);
  const x = Float64Array.from(b);
  let scale = 0;
  for (let i = 0; i < r; i++) scale = Math.max(scale, Math.abs(m[i * r + i]!));
  if (!(scale > 0) || !Number.isFinite(scale)) return undefined;
  for (let col = 0; col < r; col++) {
    let pivot = col;
    for (let row = col + 1; row < r; row++)
      if (Math.abs(m[row * r + col]!) > Math.abs(m[pivot * r + col]!)) pivot = row;
    if (Math.abs(m[pivot * r + col]!) <= scale * 1e-12) return undefined;
    if (pivot !== col) {
      for (let k = 0; k < r; k++) {
        const t = m[col * r + k]!;
        m[col * r + k] = m[pivot * r + k]!;
        m[pivot * r + k] = t;
      }
      const t = x[col]!;
      x[col] = x[pivot]!;
      x[pivot] = t;
    }
    for (let row = col + 1; row < r; row++) {
      const f = m[row * r + col]! / m[col * r + col]!;
      if (f === 0) continue;
      for (let k = col; k < r; k++) m[row * r + k]! -= f * m[col * r + k]!;
      x[row]! -= f * x[col]!;
    }
  }
  for (let row = r - 1; row >= 0; row--) {
    let s = x[row]!;
    for (let k = row + 1; k < r; k++) s -= m[row * r + k]! * x[k]!;
    x[row] = s / m[row * r + row]!;
  }
  for (let i = 0; i < r; i++) if (!Number.isFinite(x[i]!)) return undefined;
  return x;
}
