// The task-vector family (MERGING.md): sparsify each δ_i = T_i − B, weight it, optionally elect signs, sum,
// normalise, scale. task_arithmetic, ties, dare_ties, dare_linear, breadcrumbs, breadcrumbs_ties, della,
// della_linear are this one algorithm with switches. Pure; per-element math in float64, stored as float32.

import type { MergeMethod, MethodParam, ResolvedInputs } from './method.js';
import { type RescaleMode, type Sparsified, type SparsifierName, sparsify } from './sparsify.js';

interface FamilySwitches {
  consensus: boolean;
  sparsifier: SparsifierName;
  normalize: boolean;
  rescale: boolean;
}

const FAMILY: Record<string, FamilySwitches & { summary: string }> = {
  task_arithmetic: {
    consensus: false,
    sparsifier: 'none',
    normalize: false,
    rescale: false,
    summary: 'base + λ Σ w_i (T_i − B) (Ilharco et al. 2023)',
  },
  ties: {
    consensus: true,
    sparsifier: 'magnitude',
    normalize: true,
    rescale: false,
    summary: 'trim to the top-density magnitudes, elect signs, disjoint mean (Yadav et al. 2023)',
  },
  dare_ties: {
    consensus: true,
    sparsifier: 'random',
    normalize: false,
    rescale: true,
    summary: 'random drop and rescale, then TIES sign election (Yu et al. 2024)',
  },
  dare_linear: {
    consensus: false,
    sparsifier: 'random',
    normalize: false,
    rescale: true,
    summary: 'random drop and rescale, then a weighted sum (Yu et al. 2024)',
  },
  breadcrumbs: {
    consensus: false,
    sparsifier: 'magnitude_outliers',
    normalize: false,
    rescale: false,
    summary: 'drop the smallest and the largest-outlier entries, weighted sum (Davari & Belilovsky 2024)',
  },
  breadcrumbs_ties: {
    consensus: true,
    sparsifier: 'magnitude_outliers',
    normalize: false,
    rescale: false,
    summary: 'breadcrumbs sparsification with TIES sign election',
  },
  della: {
    consensus: true,
    sparsifier: 'della',
    normalize: true,
    rescale: true,
    summary: 'magnitude-ranked random drop per row, sign election (Deep et al. 2024)',
  },
  della_linear: {
    consensus: false,
    sparsifier: 'della',
    normalize: false,
    rescale: true,
    summary: 'DELLA drop without sign election',
  },
};

function paramsFor(s: FamilySwitches): Record<string, MethodParam> {
  const p: Record<string, MethodParam> = {
    weight: { required: true },
    lambda: { default: 1 },
    normalize: { default: s.normalize },
    int8_mask: { default: false },
  };
  if (s.sparsifier !== 'none') {
    p.density = { default: 1 };
    p.rescale = { default: s.rescale };
  }
  if (s.sparsifier === 'magnitude_outliers') p.gamma = { default: 0.01 };
  if (s.sparsifier === 'della') p.epsilon = { default: 0.15 };
  if (s.consensus) p.sign_vote = { default: 'weighted' };
  return p;
}

/** Below this |Σ w_i| the non-consensus divisor is taken as 1 (mergekit). */
const MIN_DIVISOR = 1e-8;
/** Elements per chunk of the float64 accumulators (512 KiB each). */
const CHUNK = 65536;

/** δ'_j of one sparsified model for j in [start, start + len) into `to` (float64), or added to it. */
function deltaChunk(
  model: Float32Array,
  base: Float32Array,
  sparse: Sparsified,
  factor: number,
  start: number,
  len: number,
  to: Float64Array,
  add: boolean,
): void {
  const { mask, entryScale } = sparse;
  if (!add) to.fill(0, 0, len);
  if (entryScale) {
    for (let c = 0, j = start; c < len; c++, j++)
      if (mask![j]) to[c]! += (model[j]! - base[j]!) * factor * entryScale[j]!;
  } else if (mask) {
    // Multiplying by the 0/1 mask instead of branching on it: the branch is a coin flip the CPU mispredicts.
    for (let c = 0, j = start; c < len; c++, j++) to[c]! += (model[j]! - base[j]!) * factor * mask[j]!;
  } else {
    for (let c = 0, j = start; c < len; c++, j++) to[c]! += (model[j]! - base[j]!) * factor;
  }
}

function mergeFamily(s: FamilySwitches, x: ResolvedInputs): Float32Array {
  const base = x.base!;
  const n = x.models.length;
  const numel = base.length;
  const weights = x.modelParams.map((p) => p.weight as number);
  const lambda = x.params.lambda as number;
  const normalize = x.params.normalize as boolean;
  const unweightedVote = x.params.sign_vote === 'unweighted';
  // The output doubles as the sparsifiers' scratch until the final pass writes it.
  const out = new Float32Array(numel);
  const sparse: Sparsified[] = x.models.map((model, i) =>
    sparsify(s.sparsifier, {
      model,
      base,
      shape: x.shape,
      tensorName: x.tensorName,
      modelIndex: i,
      density: (x.modelParams[i]!.density as number | undefined) ?? 1,
      gamma: (x.modelParams[i]!.gamma as number | undefined) ?? 0.01,
      epsilon: (x.modelParams[i]!.epsilon as number | undefined) ?? 0.15,
      seed: x.seed,
      rescale: (x.params.rescale as RescaleMode | undefined) ?? false,
      scratch: out,
    }),
  );
  const models = x.models;
  const len0 = Math.min(numel, CHUNK);
  const acc = new Float64Array(len0);
  if (!s.consensus) {
    let div = 1;
    if (normalize) {
      const sum = weights.reduce((a, b) => a + b, 0);
      div = Math.abs(sum) < MIN_DIVISOR ? 1 : sum;
    }
    const k = lambda / div;
    for (let start = 0; start < numel; start += CHUNK) {
      const len = Math.min(CHUNK, numel - start);
      acc.fill(0, 0, len);
      for (let i = 0; i < n; i++) {
        deltaChunk(models[i]!, base, sparse[i]!, sparse[i]!.scale * weights[i]!, start, len, acc, true);
      }
      for (let c = 0; c < len; c++) out[start + c] = base[start + c]! + k * acc[c]!;
    }
    return out;
  }
  // Consensus, chunk by chunk: S = Σ votes; then each model adds the entries that agree with sign(S).
  const d = new Float64Array(len0);
  const mixed = new Float64Array(len0);
  const div = new Float64Array(len0);
  for (let start = 0; start < numel; start += CHUNK) {
    const len = Math.min(CHUNK, numel - start);
    acc.fill(0, 0, len);
    for (let i = 0; i < n; i++) {
      const voteFactor = sparse[i]!.scale * (unweightedVote ? 1 : weights[i]!);
      deltaChunk(models[i]!, base, sparse[i]!, voteFactor, start, len, acc, true);
    }
    mixed.fill(0, 0, len);
    div.fill(0, 0, len);
    for (let i = 0; i < n; i++) {
      const w = weights[i]!;
      // The vote is δ' (unweighted) or w·δ' (weighted); D = w·δ'. Compare signs on the vote.
      deltaChunk(models[i]!, base, sparse[i]!, sparse[i]!.scale, start, len, d, false);
      const inc = unweightedVote ? 1 : w;
      const wSign = unweightedVote ? 1 : Math.sign(w);
      for (let c = 0; c < len; c++) {
        // Agrees when sign(vote) = (S ≥ 0 ? + : −), written so that V8 emits fewer unpredictable branches.
        const a = acc[c]!;
        const vote = d[c]! * wSign;
        const agree = vote * a > 0 || (a === 0 && vote > 0) ? 1 : 0;
        mixed[c]! += w * d[c]! * agree;
        div[c]! += inc * agree;
      }
    }
    for (let c = 0; c < len; c++) {
      const m = normalize ? mixed[c]! / (div[c] === 0 ? 1 : div[c]!) : mixed[c]!;
      out[start + c] = base[start + c]! + lambda * m;
    }
  }
  return out;
}

/** Per-tensor parameter conditions of the sparsifiers, checked before any values are read. */
function checkFamily(s: FamilySwitches, x: Parameters<NonNullable<MergeMethod['check']>>[0]): string | undefined {
  const numel = x.shape.reduce((a, b) => a * b, 1);
  for (const [i, p] of x.modelParams.entries()) {
    const density = (p.density as number | undefined) ?? 1;
    if (density >= 1) continue;
    if (s.sparsifier === 'magnitude' && Math.floor(density * numel) === 0) {
      return `density ${density} of model ${i + 1} keeps no entry of ${numel} (k = floor(density · numel) = 0)`;
    }
    const epsilon = (p.epsilon as number | undefined) ?? 0.15;
    if (s.sparsifier === 'della' && !(density - epsilon > 0 && density + epsilon < 1)) {
      return `della needs 0 < density − epsilon and density + epsilon < 1 (model ${i + 1}: density ${density}, epsilon ${epsilon})`;
    }
  }
  return undefined;
}

/** The eight task-vector methods, in MERGING.md's table order. */
export const TASK_VECTOR_METHODS: readonly MergeMethod[] = Object.entries(FAMILY).map(
  ([name, s]): MergeMethod => ({
    name,
    summary: s.summary,
    base: 'required',
    arity: { min: 1, max: Number.POSITIVE_INFINITY },
    params: paramsFor(s),
    laws: { idempotent: false, unchangedSideNoop: true },
    check: (x) => checkFamily(s, x),
    merge: (inputs) => mergeFamily(s, inputs),
  }),
);
