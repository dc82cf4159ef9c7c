// Interpolation methods (MERGING.md): linear, slerp, nuslerp, multislerp, karcher, model_stock, nearswap,
// passthrough. Pure; reductions (norms, dots) and per-element math in float64, results stored as float32.

import type { MergeMethod, ResolvedInputs } from './method.js';

/** Spherical interpolation falls back to linear when |cos| exceeds this (vectors nearly parallel). */
const DOT_THRESHOLD = 0.9995;
/** Norms below this are treated as zero when normalising. */
const NORM_EPS = 1e-8;

function weightsOf(x: ResolvedInputs, name = 'weight'): number[] {
  return x.modelParams.map((p) => p[name] as number);
}

function norm(a: ArrayLike<number>, start = 0, len = a.length, stride = 1): number {
  let s = 0;
  for (let i = 0, j = start; i < len; i++, j += stride) s += a[j]! * a[j]!;
  return Math.sqrt(s);
}

/**
 * slerp(t, v0, v1) over one segment (start, len, stride) of the arrays, written into `out` at the same places.
 * `v0` and `v1` are functions of the position so that task vectors need no materialised copy.
 */
function slerpSegment(
  t: number,
  v0: (j: number) => number,
  v1: (j: number) => number,
  out: Float32Array,
  offset: (j: number) => number,
  start: number,
  len: number,
  stride: number,
): void {
  let n0 = 0;
  let n1 = 0;
  let dot = 0;
  for (let i = 0, j = start; i < len; i++, j += stride) {
    const a = v0(j);
    const b = v1(j);
    n0 += a * a;
    n1 += b * b;
    dot += a * b;
  }
  n0 = Math.sqrt(n0);
  n1 = Math.sqrt(n1);
  const d = dot / ((n0 > NORM_EPS ? n0 : 1) * (n1 > NORM_EPS ? n1 : 1));
  let s0: number;
  let s1: number;
  if (Math.abs(d) > DOT_THRESHOLD) {
    s0 = 1 - t;
    s1 = t;
  } else {
    const theta = Math.acos(d);
    const sin = Math.sin(theta);
    s0 = Math.sin((1 - t) * theta) / sin;
    s1 = Math.sin(t * theta) / sin;
  }
  for (let i = 0, j = start; i < len; i++, j += stride) out[j] = offset(j) + s0 * v0(j) + s1 * v1(j);
}

const linear: MergeMethod = {
  name: 'linear',
  summary: 'weighted average of the models (model soup, Wortsman et al. 2022)',
  base: 'none',
  arity: { min: 1, max: Number.POSITIVE_INFINITY },
  params: { weight: { required: true }, normalize: { default: true } },
  laws: { idempotent: true, unchangedSideNoop: false },
  merge(x) {
    const w = weightsOf(x);
    const numel = x.models[0]!.length;
    const sum = w.reduce((a, b) => a + b, 0);
    const div = x.params.normalize ? (Math.abs(sum) < NORM_EPS ? 1 : sum) : 1;
    const acc = new Float64Array(Math.min(numel, 65536));
    const out = new Float32Array(numel);
    for (let start = 0; start < numel; start += acc.length) {
      const len = Math.min(acc.length, numel - start);
      acc.fill(0);
      x.models.forEach((t, i) => {
        const wi = w[i]!;
        for (let c = 0; c < len; c++) acc[c]! += wi * t[start + c]!;
      });
      for (let c = 0; c < len; c++) out[start + c] = acc[c]! / div;
    }
    return out;
  },
};

const slerp: MergeMethod = {
  name: 'slerp',
  summary: 'spherical interpolation from the base (t = 0) to the model (t = 1) (Shoemake 1985)',
  base: 'required',
  arity: { min: 1, max: 1 },
  params: { t: { required: true } },
  laws: { idempotent: false, unchangedSideNoop: false },
  merge(x) {
    const b = x.base!;
    const a = x.models[0]!;
    const out = new Float32Array(b.length);
    slerpSegment(
      x.params.t as number,
      (j) => b[j]!,
      (j) => a[j]!,
      out,
      () => 0,
      0,
      b.length,
      1,
    );
    return out;
  },
};

const nuslerp: MergeMethod = {
  name: 'nuslerp',
  summary: 'slerp of two models (or their task vectors) with t = w2 / (w1 + w2), whole tensors, rows or columns',
  base: 'optional',
  arity: { min: 2, max: 2 },
  params: { weight: { required: true }, nuslerp_flatten: { default: true }, nuslerp_row_wise: { default: false } },
  laws: { idempotent: true, unchangedSideNoop: false },
  merge(x) {
    const [w1, w2] = weightsOf(x) as [number, number];
    const t = Math.abs(w1 + w2) < NORM_EPS ? 0.5 : w2 / (w1 + w2);
    const a = x.models[0]!;
    const c = x.models[1]!;
    const b = x.base;
    const numel = a.length;
    const out = new Float32Array(numel);
    const v0 = b ? (j: number) => a[j]! - b[j]! : (j: number) => a[j]!;
    const v1 = b ? (j: number) => c[j]! - b[j]! : (j: number) => c[j]!;
    const offset = b ? (j: number) => b[j]! : () => 0;
    const rows = x.shape.length >= 2 ? x.shape[0]! : 1;
    if (x.params.nuslerp_flatten !== false || rows <= 1 || numel === 0) {
      slerpSegment(t, v0, v1, out, offset, 0, numel, 1);
    } else if (x.params.nuslerp_row_wise) {
      const cols = numel / rows;
      for (let r = 0; r < rows; r++) slerpSegment(t, v0, v1, out, offset, r * cols, cols, 1);
    } else {
      const cols = numel / rows;
      for (let col = 0; col < cols; col++) slerpSegment(t, v0, v1, out, offset, col, rows, cols);
    }
    return out;
  },
};

/** Normalised weights (Σ = 1) when asked, else as given. */
function normalizedWeights(w: number[], normalize: boolean): number[] {
  if (!normalize) return w;
  const sum = w.reduce((a, b) => a + b, 0);
  return Math.abs(sum) < NORM_EPS ? w.map(() => 1 / w.length) : w.map((v) => v / sum);
}

const multislerp: MergeMethod = {
  name: 'multislerp',
  summary: 'weighted spherical mean of the (task) vectors, scaled by their weighted mean norm',
  base: 'optional',
  arity: { min: 1, max: Number.POSITIVE_INFINITY },
  params: { weight: { required: true }, normalize_weights: { default: true }, eps: { default: 1e-8 } },
  laws: { idempotent: true, unchangedSideNoop: false },
  merge(x) {
    const w = normalizedWeights(weightsOf(x), x.params.normalize_weights !== false);
    const eps = x.params.eps as number;
    const b = x.base;
    const models = x.models;
    const numel = models[0]!.length;
    const norms = models.map((t) => {
      let s = 0;
      for (let j = 0; j < numel; j++) {
        const v = b ? t[j]! - b[j]! : t[j]!;
        s += v * v;
      }
      return Math.sqrt(s);
    });
    const inv = norms.map((n) => (n > eps ? 1 / n : 1));
    const mean = new Float64Array(numel);
    for (let i = 0; i < models.length; i++) {
      const t = models[i]!;
      const f = w[i]! * inv[i]!;
      for (let j = 0; j < numel; j++) mean[j]! += f * (b ? t[j]! - b[j]! : t[j]!);
    }
    const meanNorm = norm(mean);
    const out = new Float32Array(numel);
    if (meanNorm < eps) {
      // Directions cancel: fall back to the weighted linear mean.
      for (let j = 0; j < numel; j++) {
        let s = 0;
        for (let i = 0; i < models.length; i++) s += w[i]! * (b ? models[i]![j]! - b[j]! : models[i]![j]!);
        out[j] = (b ? b[j]! : 0) + s;
      }
      return out;
    }
    const radius = w.reduce((acc, wi, i) => acc + wi * norms[i]!, 0);
    const k = radius / meanNorm;
    for (let j = 0; j < numel; j++) out[j] = (b ? b[j]! : 0) + k * mean[j]!;
    return out;
  },
};

const karcher: MergeMethod = {
  name: 'karcher',
  summary: 'Riemannian (Karcher) mean of the normalised models, scaled by the weighted mean norm',
  base: 'none',
  arity: { min: 1, max: Number.POSITIVE_INFINITY },
  params: { weight: { default: 1 }, max_iter: { default: 10 }, tol: { default: 1e-5 } },
  laws: { idempotent: true, unchangedSideNoop: false },
  merge(x) {
    const w = normalizedWeights(weightsOf(x), true);
    const models = x.models;
    const numel = models[0]!.length;
    const norms = models.map((t) => norm(t));
    const inv = norms.map((n) => (n > NORM_EPS ? 1 / n : 0));
    const out = new Float32Array(numel);
    const radius = w.reduce((acc, wi, i) => acc + wi * norms[i]!, 0);
    if (inv.every((v) => v === 0)) return out;
    // Start at the normalised weighted Euclidean mean of the unit vectors.
    const p = new Float64Array(numel);
    models.forEach((t, i) => {
      const f = w[i]! * inv[i]!;
      for (let j = 0; j < numel; j++) p[j]! += f * t[j]!;
    });
    let pn = norm(p);
    if (pn < NORM_EPS) {
      const first = inv.findIndex((v) => v > 0);
      for (let j = 0; j < numel; j++) p[j] = models[first]![j]! * inv[first]!;
      pn = 1;
    }
    for (let j = 0; j < numel; j++) p[j]! /= pn;
    const tangent = new Float64Array(numel);
    const maxIter = x.params.max_iter as number;
    const tol = x.params.tol as number;
    for (let iter = 0; iter < maxIter; iter++) {
      tangent.fill(0);
      models.forEach((t, i) => {
        if (inv[i] === 0) return;
        let cos = 0;
        for (let j = 0; j < numel; j++) cos += p[j]! * t[j]! * inv[i]!;
        cos = Math.min(1, Math.max(-1, cos));
        const theta = Math.acos(cos);
        if (theta < 1e-12) return;
        const f = (w[i]! * theta) / Math.sin(theta);
        for (let j = 0; j < numel; j++) tangent[j]! += f * (t[j]! * inv[i]! - cos * p[j]!);
      });
      const tn = norm(tangent);
      if (tn < tol) break;
      const c = Math.cos(tn);
      const s = Math.sin(tn) / tn;
      for (let j = 0; j < numel; j++) p[j] = c * p[j]! + s * tangent[j]!;
      const renorm = norm(p);
      for (let j = 0; j < numel; j++) p[j]! /= renorm;
    }
    for (let j = 0; j < numel; j++) out[j] = radius * p[j]!;
    return out;
  },
};

/** Model Stock's interpolation factor from the mean pairwise cosine of N task vectors over one segment. */
function stockFactor(x: ResolvedInputs, start: number, len: number): number {
  const b = x.base!;
  const models = x.models;
  const n = models.length;
  let cosSum = 0;
  let pairs = 0;
  for (let i = 0; i < n; i++) {
    for (let k = i + 1; k < n; k++) {
      const a = models[i]!;
      const c = models[k]!;
      let dot = 0;
      let na = 0;
      let nc = 0;
      for (let j = start; j < start + len; j++) {
        const da = a[j]! - b[j]!;
        const dc = c[j]! - b[j]!;
        dot += da * dc;
        na += da * da;
        nc += dc * dc;
      }
      const cos = dot / Math.max(Math.sqrt(na) * Math.sqrt(nc), 1e-6);
      cosSum += Math.min(1, Math.max(-1, cos));
      pairs++;
    }
  }
  const cos = cosSum / pairs;
  const den = 1 + (n - 1) * cos;
  return Math.abs(den) < NORM_EPS ? 0 : (n * cos) / den;
}

const modelStock: MergeMethod = {
  name: 'model_stock',
  summary: 'interpolate the models’ mean towards the base by their task vectors’ agreement (Jang et al. 2024)',
  base: 'required',
  arity: { min: 2, max: Number.POSITIVE_INFINITY },
  params: { filter_wise: { default: false } },
  laws: { idempotent: true, unchangedSideNoop: false },
  merge(x) {
    const b = x.base!;
    const models = x.models;
    const n = models.length;
    const numel = b.length;
    const out = new Float32Array(numel);
    const rows = x.params.filter_wise && x.shape.length >= 2 ? x.shape[0]! : 1;
    const len = rows === 0 ? 0 : numel / rows;
    for (let r = 0; r < rows; r++) {
      const start = r * len;
      const t = stockFactor(x, start, len);
      for (let j = start; j < start + len; j++) {
        let s = 0;
        for (let i = 0; i < n; i++) s += models[i]![j]!;
        out[j] = (t * s) / n + (1 - t) * b[j]!;
      }
    }
    return out;
  },
};

const nearswap: MergeMethod = {
  name: 'nearswap',
  summary: 'take the model’s value where it is within t of the base, blend towards the base elsewhere',
  base: 'required',
  arity: { min: 1, max: 1 },
  params: { t: { required: true } },
  laws: { idempotent: false, unchangedSideNoop: false },
  merge(x) {
    const b = x.base!;
    const a = x.models[0]!;
    const t = x.params.t as number;
    const out = new Float32Array(b.length);
    for (let j = 0; j < b.length; j++) {
      const w = Math.min(1, Math.max(0, t / Math.max(Math.abs(a[j]! - b[j]!), 1e-6)));
      out[j] = w * a[j]! + (1 - w) * b[j]!;
    }
    return out;
  },
};

const passthrough: MergeMethod = {
  name: 'passthrough',
  summary: 'one model’s tensor as it is, optionally scaled',
  base: 'none',
  arity: { min: 1, max: 1 },
  params: { scale: { default: 1 } },
  laws: { idempotent: true, unchangedSideNoop: false },
  merge(x) {
    const a = x.models[0]!;
    const s = x.modelParams[0]!.scale as number;
    const out = new Float32Array(a.length);
    for (let j = 0; j < a.length; j++) out[j] = s * a[j]!;
    return out;
  },
};

export const INTERPOLATION_METHODS: readonly MergeMethod[] = [
  linear,
  slerp,
  nuslerp,
  multislerp,
  karcher,
  modelStock,
  nearswap,
  passthrough,
];
