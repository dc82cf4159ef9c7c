// Every method against an independent float64 reference on random 256×256 tensors: straightforward JS
// implementations of the MERGING.md formulas (full sorts instead of selection, plain arrays, no shared code
// except the specified random stream, Philox `uniformAt`), agreeing within 1e-6.

import { describe, expect, it } from 'vitest';
import { uniformAt } from '../tensor/rng.js';
import type { Scalar } from './params.js';
import { getMergeMethod, runMerge } from './registry.js';

const ROWS = 256;
const COLS = 256;
const N = ROWS * COLS;
const NAME = 'model.layers.3.mlp.weight';
const SEED = 11;

function gaussian(seed: number, n = N, std = 1): Float32Array {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = std * Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next());
  return out;
}

const base = gaussian(1);
const models = [2, 3, 4].map((seed) => {
  const d = gaussian(seed, N, 0.05);
  return base.map((b, i) => b + d[i]!);
});
const arr = (a: Float32Array) => Array.from(a);
const B = arr(base);
const T = models.map(arr);
const W = [1, 0.5, 2];

/** The stream of (tensor name, model index): FNV-1a 32 of the name's UTF-16 units × 2^20 + index. */
function stream(name: string, index: number): number {
  let h = 2166136261;
  for (const ch of name) {
    for (let k = 0; k < ch.length; k++) h = Number((BigInt(h ^ ch.charCodeAt(k)) * 16777619n) % 4294967296n);
  }
  return h * 2 ** 20 + index;
}

// ---- reference sparsifiers (each returns the kept, rescaled δ) ----
function refMagnitude(d: number[], density: number): number[] {
  const k = Math.floor(density * d.length);
  const order = d.map((_, i) => i).sort((x, y) => Math.abs(d[y]!) - Math.abs(d[x]!) || x - y);
  const out = d.map(() => 0);
  for (const i of order.slice(0, k)) out[i] = d[i]!;
  return out;
}
function refOutliers(d: number[], density: number, gamma: number): number[] {
  const n = d.length;
  let nTop = Math.floor(gamma * n);
  let nBot = n - Math.floor(density * n) - nTop;
  if (nBot < 0) {
    nTop += nBot;
    nBot = 0;
  }
  const order = d.map((_, i) => i).sort((x, y) => Math.abs(d[x]!) - Math.abs(d[y]!) || x - y);
  const out = d.map(() => 0);
  for (const i of order.slice(nBot, n - nTop)) out[i] = d[i]!;
  return out;
}
function refRandom(d: number[], density: number, index: number): number[] {
  const s = stream(NAME, index);
  return d.map((v, j) => (uniformAt(SEED, s, j) < density ? v : 0));
}
function refDella(d: number[], density: number, eps: number, index: number, inverse: boolean): number[] {
  const s = stream(NAME, index);
  const out = d.map(() => 0);
  for (let r = 0; r < ROWS; r++) {
    const row = d.slice(r * COLS, (r + 1) * COLS);
    const order = row.map((_, i) => i).sort((x, y) => Math.abs(row[x]!) - Math.abs(row[y]!) || x - y);
    order.forEach((i, rank) => {
      const p = density - eps + (2 * eps * rank) / (COLS - 1);
      const j = r * COLS + i;
      if (uniformAt(SEED, s, j) < p) out[j] = inverse ? d[j]! / p : d[j]!;
    });
  }
  return out;
}
function l1(d: number[]): number {
  return d.reduce((a, v) => a + Math.abs(v), 0);
}
function refRescale(d: number[], kept: number[]): number[] {
  const a = l1(d);
  const k = l1(kept);
  return a < 1e-7 || k < 1e-7 ? kept : kept.map((v) => (v * a) / k);
}

function refFamily(
  consensus: boolean,
  sparse: (d: number[], i: number) => number[],
  normalize: boolean,
  lambda = 1,
  unweighted = false,
): number[] {
  const deltas = T.map((t, i) =>
    sparse(
      t.map((v, j) => v - B[j]!),
      i,
    ),
  );
  return B.map((b, j) => {
    const D = deltas.map((d, i) => W[i]! * d[j]!);
    let mixed: number;
    let div: number;
    if (consensus) {
      const votes = unweighted ? deltas.map((d) => d[j]!) : D;
      const s = votes.reduce((a, v) => a + v, 0) >= 0 ? 1 : -1;
      const m = votes.map((v) => (Math.sign(v) === s ? 1 : 0));
      mixed = D.reduce((a, v, i) => a + v * m[i]!, 0);
      div = unweighted ? m.reduce((a: number, v) => a + v, 0) : W.reduce((a, w, i) => a + w * m[i]!, 0);
      if (div === 0) div = 1;
    } else {
      mixed = D.reduce((a, v) => a + v, 0);
      div = W.reduce((a, w) => a + w, 0);
      if (Math.abs(div) < 1e-8) div = 1;
    }
    return b + lambda * (normalize ? mixed / div : mixed);
  });
}

function ours(method: string, params: Record<string, Scalar>, options: { base?: boolean; models?: number[][] } = {}) {
  const ms = options.models ? options.models.map((m) => Float32Array.from(m)) : models;
  return Array.from(
    runMerge(getMergeMethod(method)!, {
      tensorName: NAME,
      shape: [ROWS, COLS],
      ...(options.base === false ? {} : { base }),
      models: ms,
      params,
      modelParams: ms.map((_, i) => ({ weight: W[i] ?? 1 })),
      seed: SEED,
    }),
  );
}

function agree(actual: number[], expected: number[], tol = 1e-6): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let j = 0; j < actual.length; j++) {
    worst = Math.max(worst, Math.abs(actual[j]! - expected[j]!) / Math.max(1, Math.abs(expected[j]!)));
  }
  expect(worst).toBeLessThan(tol);
}

describe('task-vector family against the float64 reference', () => {
  it('task_arithmetic', () => {
    agree(
      ours('task_arithmetic', { lambda: 0.7 }),
      refFamily(false, (d) => d, false, 0.7),
    );
  });
  it('ties, weighted and unweighted votes', () => {
    agree(
      ours('ties', { density: 0.3 }),
      refFamily(true, (d) => refMagnitude(d, 0.3), true),
    );
    agree(
      ours('ties', { density: 0.3, sign_vote: 'unweighted' }),
      refFamily(true, (d) => refMagnitude(d, 0.3), true, 1, true),
    );
  });
  it('dare_ties and dare_linear (L1 rescale and inverse density)', () => {
    const sp = (d: number[], i: number) => refRescale(d, refRandom(d, 0.4, i));
    agree(ours('dare_ties', { density: 0.4 }), refFamily(true, sp, false));
    agree(ours('dare_linear', { density: 0.4 }), refFamily(false, sp, false));
    const inv = (d: number[], i: number) => refRandom(d, 0.4, i).map((v) => v / 0.4);
    agree(ours('dare_linear', { density: 0.4, rescale: 'inverse_density' }), refFamily(false, inv, false));
  });
  it('breadcrumbs and breadcrumbs_ties', () => {
    const sp = (d: number[]) => refOutliers(d, 0.5, 0.05);
    agree(ours('breadcrumbs', { density: 0.5, gamma: 0.05 }), refFamily(false, sp, false));
    agree(ours('breadcrumbs_ties', { density: 0.5, gamma: 0.05 }), refFamily(true, sp, false));
  });
  it('della and della_linear', () => {
    const sp = (d: number[], i: number) => refRescale(d, refDella(d, 0.5, 0.2, i, false));
    agree(ours('della', { density: 0.5, epsilon: 0.2 }), refFamily(true, sp, true));
    agree(ours('della_linear', { density: 0.5, epsilon: 0.2 }), refFamily(false, sp, false));
    const inv = (d: number[], i: number) => refDella(d, 0.5, 0.2, i, true);
    agree(
      ours('della_linear', { density: 0.5, epsilon: 0.2, rescale: 'inverse_density' }),
      refFamily(false, inv, false),
    );
  });
});

const dotv = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i]!, 0);
const normv = (a: number[]) => Math.sqrt(dotv(a, a));
function refSlerp(t: number, v0: number[], v1: number[]): number[] {
  const n0 = normv(v0);
  const n1 = normv(v1);
  const d = dotv(v0, v1) / ((n0 > 1e-8 ? n0 : 1) * (n1 > 1e-8 ? n1 : 1));
  if (Math.abs(d) > 0.9995) return v0.map((v, i) => (1 - t) * v + t * v1[i]!);
  const th = Math.acos(d);
  return v0.map((v, i) => (Math.sin((1 - t) * th) * v + Math.sin(t * th) * v1[i]!) / Math.sin(th));
}

describe('interpolations against the float64 reference', () => {
  it('linear', () => {
    const sw = W.reduce((a, b) => a + b, 0);
    agree(
      ours('linear', {}),
      B.map((_, j) => T.reduce((a, t, i) => a + W[i]! * t[j]!, 0) / sw),
    );
  });
  it('slerp', () => {
    agree(ours('slerp', { t: 0.3 }, { models: [T[0]!] }), refSlerp(0.3, B, T[0]!));
  });
  it('nuslerp on task vectors', () => {
    const d0 = T[0]!.map((v, j) => v - B[j]!);
    const d1 = T[1]!.map((v, j) => v - B[j]!);
    const t = W[1]! / (W[0]! + W[1]!);
    agree(
      ours('nuslerp', {}, { models: [T[0]!, T[1]!] }),
      refSlerp(t, d0, d1).map((v, j) => v + B[j]!),
    );
  });
  it('multislerp and karcher (no base)', () => {
    const sw = W.reduce((a, b) => a + b, 0);
    const w = W.map((x) => x / sw);
    const norms = T.map(normv);
    const mean = B.map((_, j) => T.reduce((a, t, i) => a + (w[i]! * t[j]!) / norms[i]!, 0));
    const mn = normv(mean);
    const radius = w.reduce((a, x, i) => a + x * norms[i]!, 0);
    const expected = mean.map((v) => (v / mn) * radius);
    agree(ours('multislerp', {}, { base: false }), expected);
    // Karcher mean by plain fixed-point iteration on the sphere (100 steps), from the same start.
    const u = T.map((t, i) => t.map((v) => v / norms[i]!));
    let p = mean.map((v) => v / mn);
    for (let it = 0; it < 100; it++) {
      const tan = p.map(() => 0);
      u.forEach((ui, i) => {
        const c = Math.min(1, Math.max(-1, dotv(p, ui)));
        const th = Math.acos(c);
        if (th < 1e-12) return;
        ui.forEach((v, j) => {
          tan[j]! += ((w[i]! * th) / Math.sin(th)) * (v - c * p[j]!);
        });
      });
      const tn = normv(tan);
      if (tn < 1e-12) break;
      p = p.map((v, j) => Math.cos(tn) * v + (Math.sin(tn) * tan[j]!) / tn);
      const pn = normv(p);
      p = p.map((v) => v / pn);
    }
    // Iterated to convergence (the default tolerance 1e-5 stops about that far from the exact mean).
    agree(
      ours('karcher', { tol: 1e-12, max_iter: 100 }, { base: false }),
      p.map((v) => v * radius),
    );
  });
  it('model_stock', () => {
    const d = T.map((t) => t.map((v, j) => v - B[j]!));
    let cos = 0;
    let pairs = 0;
    for (let i = 0; i < d.length; i++) {
      for (let k = i + 1; k < d.length; k++) {
        cos += dotv(d[i]!, d[k]!) / (normv(d[i]!) * normv(d[k]!));
        pairs++;
      }
    }
    cos /= pairs;
    const n = T.length;
    const t = (n * cos) / (1 + (n - 1) * cos);
    agree(
      ours('model_stock', {}),
      B.map((b, j) => (t * T.reduce((a, m) => a + m[j]!, 0)) / n + (1 - t) * b),
    );
  });
  it('nearswap', () => {
    const a = T[0]!;
    const expected = B.map((b, j) => {
      const w = Math.min(1, Math.max(0, 0.02 / Math.max(Math.abs(a[j]! - b), 1e-6)));
      return w * a[j]! + (1 - w) * b;
    });
    agree(ours('nearswap', { t: 0.02 }, { models: [a] }), expected);
  });
  it('passthrough', () => {
    agree(
      ours('passthrough', { scale: 0.5 }, { models: [T[0]!], base: false }),
      T[0]!.map((v) => 0.5 * v),
    );
  });
});

describe('sce, ram and the data-aware methods against the float64 reference', () => {
  it('sce', () => {
    const d = T.map((t) => t.map((v, j) => v - B[j]!));
    const variance = B.map((_, j) => {
      const m = d.reduce((a, x) => a + x[j]!, 0) / d.length;
      return d.reduce((a, x) => a + (x[j]! - m) ** 2, 0) / d.length;
    });
    const k = Math.floor(variance.filter((v) => v !== 0).length * 0.5);
    // ranked by the float32 value of the variance, as stored
    const v32 = Float32Array.from(variance);
    const keep = new Set(
      v32
        .map((_, i) => i)
        .sort((x, y) => v32[y]! - v32[x]! || x - y)
        .slice(0, k),
    );
    const masked = d.map((x) => x.map((v, j) => (keep.has(j) ? v : 0)));
    const ms = masked.map((x) => x.reduce((a, v) => a + v * v, 0) / N);
    const tot = ms.reduce((a, v) => a + v, 0);
    const w = ms.map((v) => v / tot);
    const expected = B.map((b, j) => {
      const s = masked.reduce((a, x) => a + x[j]!, 0) >= 0 ? 1 : -1;
      let num = 0;
      let den = 0;
      masked.forEach((x, i) => {
        if (Math.sign(x[j]!) === s) {
          num += w[i]! * x[j]!;
          den += w[i]!;
        }
      });
      return b + num / Math.max(den, 1e-6);
    });
    agree(ours('sce', { select_topk: 0.5 }), expected);
  });
  it('ram', () => {
    const eps = 0.03;
    const expected = B.map((b, j) => {
      const ch = T.map((t) => t[j]! - b).filter((v) => Math.abs(v) > eps);
      return ch.length ? b + ch.reduce((a, v) => a + v, 0) / ch.length : b;
    });
    agree(ours('ram', { epsilon: eps }), expected);
  });
  it('fisher', () => {
    const F = [5, 6, 7].map((s) => gaussian(s).map(Math.abs));
    const out = runMerge(getMergeMethod('fisher')!, {
      tensorName: NAME,
      shape: [ROWS, COLS],
      models,
      modelParams: W.map((w) => ({ weight: w })),
      statistics: F,
    });
    const expected = B.map((_, j) => {
      let num = 0;
      let den = 0;
      T.forEach((t, i) => {
        const f = W[i]! * Math.max(F[i]![j]!, 1e-6);
        num += f * t[j]!;
        den += f;
      });
      return num / den;
    });
    agree(Array.from(out), expected);
  });
  it('regmean', () => {
    const alpha = 0.9;
    const grams = [8, 9].map((seed) => {
      const x = gaussian(seed, 300 * COLS);
      const g = new Float64Array(COLS * COLS);
      for (let r = 0; r < 300; r++) {
        for (let p = 0; p < COLS; p++) {
          const xp = x[r * COLS + p]!;
          for (let q = 0; q < COLS; q++) g[p * COLS + q]! += (xp * x[r * COLS + q]!) / 300;
        }
      }
      return Float32Array.from(g);
    });
    const two = [models[0]!, models[1]!];
    const out = runMerge(getMergeMethod('regmean')!, {
      tensorName: NAME,
      shape: [ROWS, COLS],
      models: two,
      statistics: grams,
      params: { alpha },
    });
    // Reference: Gauss–Jordan on [A | Rᵀ] with A = Σ G̃_i, R = Σ W_i G̃_i.
    const gt = grams.map((g) => Array.from(g, (v, idx) => (Math.floor(idx / COLS) === idx % COLS ? v : alpha * v)));
    const A = Array.from({ length: COLS }, (_, p) =>
      Array.from({ length: COLS }, (_, q) => gt[0]![p * COLS + q]! + gt[1]![p * COLS + q]!),
    );
    const Rt = Array.from({ length: COLS }, (_, q) =>
      Array.from({ length: ROWS }, (_, o) => {
        let s = 0;
        for (let i = 0; i < 2; i++) for (let k = 0; k < COLS; k++) s += T[i]![o * COLS + k]! * gt[i]![k * COLS + q]!;
        return s;
      }),
    );
    for (let c = 0; c < COLS; c++) {
      let p = c;
      for (let r = c + 1; r < COLS; r++) if (Math.abs(A[r]![c]!) > Math.abs(A[p]![c]!)) p = r;
      [A[c], A[p]] = [A[p]!, A[c]!];
      [Rt[c], Rt[p]] = [Rt[p]!, Rt[c]!];
      for (let r = 0; r < COLS; r++) {
        if (r === c) continue;
        const f = A[r]![c]! / A[c]![c]!;
        if (f === 0) continue;
        for (let k = c; k < COLS; k++) A[r]![k]! -= f * A[c]![k]!;
        for (let k = 0; k < ROWS; k++) Rt[r]![k]! -= f * Rt[c]![k]!;
      }
    }
    const expected = new Array<number>(N);
    for (let q = 0; q < COLS; q++) for (let o = 0; o < ROWS; o++) expected[o * COLS + q] = Rt[q]![o]! / A[q]![q]!;
    agree(Array.from(out), expected, 1e-5);
  });
});
