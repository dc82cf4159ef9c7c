// sce (select by variance, calculate weights, erase minority signs; FuseChat, Wan et al. 2024) and ram
// (Reinforced Agent Merging: average only where several models changed an entry) as mergekit defines them.
// Pure; per-element math in float64, stored as float32.

import type { MergeMethod } from './method.js';
import { selectFirst } from './sparsify.js';

const sce: MergeMethod = {
  name: 'sce',
  summary: 'keep the highest-variance entries, weight models by mean squared delta, erase minority signs',
  base: 'required',
  arity: { min: 1, max: Number.POSITIVE_INFINITY },
  params: { select_topk: { default: 1 } },
  laws: { idempotent: true, unchangedSideNoop: false },
  merge(x) {
    const b = x.base!;
    const models = x.models;
    const n = models.length;
    const numel = b.length;
    const topk = x.params.select_topk as number;
    let mask: Uint8Array | undefined;
    if (topk < 1) {
      // Population variance over the models of each entry's delta.
      const variance = new Float32Array(numel);
      let nonzero = 0;
      for (let j = 0; j < numel; j++) {
        let s = 0;
        let s2 = 0;
        for (let i = 0; i < n; i++) {
          const d = models[i]![j]! - b[j]!;
          s += d;
          s2 += d * d;
        }
        const mean = s / n;
        const v = Math.max(0, s2 / n - mean * mean);
        variance[j] = v;
        if (variance[j] !== 0) nonzero++;
      }
      mask = new Uint8Array(numel);
      selectFirst(variance, (j) => variance[j]!, Math.floor(nonzero * topk), true, mask, 1);
    }
    const kept = (j: number) => mask === undefined || mask[j] === 1;
    const meanSquares = models.map((t) => {
      let s = 0;
      for (let j = 0; j < numel; j++) {
        if (!kept(j)) continue;
        const d = t[j]! - b[j]!;
        s += d * d;
      }
      return s / Math.max(numel, 1);
    });
    const total = meanSquares.reduce((a, c) => a + c, 0);
    const w = Math.abs(total) < 1e-6 ? meanSquares.map(() => 1 / n) : meanSquares.map((m) => m / total);
    const out = new Float32Array(numel);
    const d = new Float64Array(n);
    for (let j = 0; j < numel; j++) {
      const base = b[j]!;
      if (!kept(j)) {
        out[j] = base;
        continue;
      }
      let sum = 0;
      for (let i = 0; i < n; i++) {
        d[i] = models[i]![j]! - base;
        sum += d[i]!;
      }
      const positive = sum >= 0;
      let mixed = 0;
      let div = 0;
      for (let i = 0; i < n; i++) {
        if (positive ? d[i]! > 0 : d[i]! < 0) {
          mixed += w[i]! * d[i]!;
          div += w[i]!;
        }
      }
      out[j] = base + mixed / Math.max(div, 1e-6);
    }
    return out;
  },
};

const ram: MergeMethod = {
  name: 'ram',
  summary: 'entries changed by one model keep its change; entries changed by several take the mean of those changes',
  base: 'required',
  arity: { min: 1, max: Number.POSITIVE_INFINITY },
  params: { epsilon: { default: 1e-5, scope: 'global' } },
  laws: { idempotent: true, unchangedSideNoop: true },
  merge(x) {
    const b = x.base!;
    const models = x.models;
    const eps = x.params.epsilon as number;
    const out = new Float32Array(b.length);
    for (let j = 0; j < b.length; j++) {
      let s = 0;
      let count = 0;
      for (const t of models) {
        const d = t[j]! - b[j]!;
        if (Math.abs(d) > eps) {
          s += d;
          count++;
        }
      }
      out[j] = count === 0 ? b[j]! : b[j]! + s / count;
    }
    return out;
  },
};

export const CONSENSUS_METHODS: readonly MergeMethod[] = [sce, ram];
