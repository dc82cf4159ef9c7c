// Data-aware methods: fisher (Fisher-weighted averaging, Matena & Raffel 2022) and regmean (Jin et al. 2023).
// They take per-model statistics beside the weights. Pure; float64 accumulation and a float64 linear solve.

import { UsageError } from '../errors.js';
import type { MergeMethod, ResolvedInputs } from './method.js';

/** Fisher values are floored here so that an entry no model was sensitive to still has a defined mean. */
const FISHER_FLOOR = 1e-6;

function statistic(x: ResolvedInputs, i: number, what: string, length: number): Float32Array {
  const s = x.statistics?.[i];
  if (!s) {
    throw new UsageError('USAGE', `tensor ${JSON.stringify(x.tensorName)}: model ${i + 1} has no ${what}`, {
      tensor: x.tensorName,
    });
  }
  if (s.length !== length) {
    throw new UsageError(
      'USAGE',
      `tensor ${JSON.stringify(x.tensorName)}: the ${what} of model ${i + 1} has ${s.length} entries, ${length} expected`,
      { tensor: x.tensorName },
    );
  }
  return s;
}

const fisher: MergeMethod = {
  name: 'fisher',
  summary: 'Σ λ_i F_i T_i / Σ λ_i F_i with each model’s diagonal Fisher F_i',
  base: 'none',
  arity: { min: 1, max: Number.POSITIVE_INFINITY },
  params: { weight: { default: 1 } },
  statistics: 'fisher',
  laws: { idempotent: true, unchangedSideNoop: false },
  merge(x) {
    const numel = x.models[0]!.length;
    const fs = x.models.map((_, i) => statistic(x, i, 'Fisher information', numel));
    const w = x.modelParams.map((p) => p.weight as number);
    const out = new Float32Array(numel);
    for (let j = 0; j < numel; j++) {
      let num = 0;
      let den = 0;
      for (let i = 0; i < x.models.length; i++) {
        const f = w[i]! * Math.max(fs[i]![j]!, FISHER_FLOOR);
        num += f * x.models[i]![j]!;
        den += f;
      }
      out[j] = num / den;
    }
    return out;
  },
};

/**
 * Solves A X = Bᵀ for X (n × m, returned row-major as m rows of n: the transposed solution), with A n × n,
 * by LU with partial pivoting in float64. Returns undefined when A is singular.
 */
function solveTransposed(a: Float64Array, n: number, rhs: Float64Array, m: number): Float64Array | undefined {
  const lu = a.slice();
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  let scale = 0;
  for (let i = 0; i < lu.length; i++) scale = Math.max(scale, Math.abs(lu[i]!));
  for (let k = 0; k < n; k++) {
    let p = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(lu[i * n + k]!) > Math.abs(lu[p * n + k]!)) p = i;
    if (Math.abs(lu[p * n + k]!) <= scale * 1e-13) return undefined;
    if (p !== k) {
      for (let c = 0; c < n; c++) {
        const t = lu[k * n + c]!;
        lu[k * n + c] = lu[p * n + c]!;
        lu[p * n + c] = t;
      }
      const t = perm[k]!;
      perm[k] = perm[p]!;
      perm[p] = t;
    }
    const pivot = lu[k * n + k]!;
    for (let i = k + 1; i < n; i++) {
      const f = lu[i * n + k]! / pivot;
      lu[i * n + k] = f;
      if (f === 0) continue;
      for (let c = k + 1; c < n; c++) lu[i * n + c]! -= f * lu[k * n + c]!;
    }
  }
  const out = new Float64Array(m * n);
  const y = new Float64Array(n);
  for (let r = 0; r < m; r++) {
    for (let i = 0; i < n; i++) {
      let s = rhs[r * n + perm[i]!]!;
      for (let c = 0; c < i; c++) s -= lu[i * n + c]! * y[c]!;
      y[i] = s;
    }
    for (let i = n - 1; i >= 0; i--) {
      let s = y[i]!;
      for (let c = i + 1; c < n; c++) s -= lu[i * n + c]! * out[r * n + c]!;
      out[r * n + i] = s / lu[i * n + i]!;
    }
  }
  return out;
}

const regmean: MergeMethod = {
  name: 'regmean',
  summary: 'least-squares merge of linear layers from input Gram matrices; other tensors are averaged',
  base: 'none',
  arity: { min: 1, max: Number.POSITIVE_INFINITY },
  params: { alpha: { default: 0.9 } },
  statistics: 'gram',
  laws: { idempotent: true, unchangedSideNoop: false },
  merge(x) {
    const models = x.models;
    const numel = models[0]!.length;
    const out = new Float32Array(numel);
    const hasGram = x.statistics?.some((s) => s !== undefined) ?? false;
    if (!hasGram || x.shape.length !== 2) {
      for (let j = 0; j < numel; j++) {
        let s = 0;
        for (const t of models) s += t[j]!;
        out[j] = s / models.length;
      }
      return out;
    }
    // A PyTorch Linear weight W is [out, in] and y = W x, so with G = XᵀX/n ([in, in]) the minimiser of
    // Σ ‖X_i Wᵀ − X_i W_iᵀ‖² is W* = (Σ W_i G̃_i)(Σ G̃_i)⁻¹; G symmetric, so solve (Σ G̃_i) W*ᵀ = (Σ W_i G̃_i)ᵀ.
    const [rows, cols] = x.shape as [number, number];
    const alpha = x.params.alpha as number;
    const a = new Float64Array(cols * cols);
    const r = new Float64Array(rows * cols);
    models.forEach((w, i) => {
      const g = statistic(x, i, 'Gram matrix', cols * cols);
      for (let p = 0; p < cols; p++) {
        for (let q = 0; q < cols; q++) a[p * cols + q]! += (p === q ? 1 : alpha) * g[p * cols + q]!;
      }
      for (let o = 0; o < rows; o++) {
        for (let k = 0; k < cols; k++) {
          const wk = w[o * cols + k]!;
          if (wk === 0) continue;
          for (let q = 0; q < cols; q++) r[o * cols + q]! += wk * (k === q ? 1 : alpha) * g[k * cols + q]!;
        }
      }
    });
    const solved = solveTransposed(a, cols, r, rows);
    if (!solved) {
      throw new UsageError(
        'USAGE',
        `tensor ${JSON.stringify(x.tensorName)}: the summed Gram matrices are singular; regmean cannot solve this layer`,
        { tensor: x.tensorName },
      );
    }
    out.set(solved);
    return out;
  },
};

export const DATA_AWARE_METHODS: readonly MergeMethod[] = [fisher, regmean];
