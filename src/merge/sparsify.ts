// Sparsifiers of task vectors δ = T − B (MERGING.md): magnitude (top-k by selection over float bits, not a sort),
// random (DARE, counter-based Philox keyed by seed, tensor name and model index), magnitude_outliers
// (breadcrumbs), della, and the rescale that follows. Pure; the result is a keep mask plus scale factors.

import { UsageError } from '../errors.js';
import { fillUniform, type Seed } from '../tensor/rng.js';

/** A sparsified task vector, without materialising it: δ'_j = δ_j · mask_j · scale · (entryScale_j ?? 1). */
export interface Sparsified {
  /** 1 = keep; undefined = keep every entry. */
  mask: Uint8Array | undefined;
  scale: number;
  /** Per-entry factors (della with `rescale: inverse_density`). */
  entryScale?: Float32Array;
}

export type SparsifierName = 'none' | 'magnitude' | 'random' | 'magnitude_outliers' | 'della';
export type RescaleMode = false | true | 'inverse_density';

export interface SparsifyOptions {
  /** δ = model − base, element by element, in float64. */
  model: Float32Array;
  base: Float32Array;
  shape: readonly number[];
  tensorName: string;
  modelIndex: number;
  density: number;
  gamma: number;
  epsilon: number;
  seed: Seed;
  rescale: RescaleMode;
  /** numel floats the sparsifier may overwrite (saves an allocation per model). */
  scratch?: Float32Array;
}

/** Elements per chunk of random numbers (256 KiB). */
const CHUNK = 65536;
/** Largest model index a random stream can key (the stream id packs a 32-bit name hash and this index). */
export const MAX_MODELS = 1 << 20;
/** Rescale is skipped when either L1 norm is below this (mergekit). */
const RESCALE_MIN_NORM = 1e-7;

/**
 * Applies the named sparsifier to δ = model − base and the rescale after it. Every sparsifier is the identity
 * when density ≥ 1.
 *
 * @example sparsify('magnitude', { model, base, shape: [4], tensorName: 'w', modelIndex: 0, density: 0.5,
 *   gamma: 0.01, epsilon: 0.15, seed: 0, rescale: false }).mask // Uint8Array [0, 1, 1, 0]
 */
export function sparsify(name: SparsifierName, o: SparsifyOptions): Sparsified {
  if (name === 'none' || o.density >= 1) return { mask: undefined, scale: 1 };
  const n = o.model.length;
  let mask: Uint8Array;
  let entryScale: Float32Array | undefined;
  switch (name) {
    case 'magnitude': {
      const k = Math.floor(o.density * n);
      if (k === 0) {
        throw new UsageError(
          'USAGE',
          `tensor ${JSON.stringify(o.tensorName)}: density ${o.density} keeps no entry of ${n} (k = floor(density · numel) = 0)`,
          { tensor: o.tensorName },
        );
      }
      mask = new Uint8Array(n);
      markFirst(o.model, o.base, k, true, mask, 1, o.scratch);
      break;
    }
    case 'random': {
      mask = new Uint8Array(n);
      const u = new Float32Array(Math.min(CHUNK, n));
      const stream = streamId(o.tensorName, o.modelIndex);
      for (let start = 0; start < n; start += CHUNK) {
        const len = Math.min(CHUNK, n - start);
        const view = len === u.length ? u : u.subarray(0, len);
        fillUniform(view, o.seed, stream, start);
        for (let i = 0; i < len; i++) mask[start + i] = view[i]! < o.density ? 1 : 0;
      }
      break;
    }
    case 'magnitude_outliers': {
      let nTop = Math.floor(o.gamma * n);
      const keep = Math.floor(o.density * n);
      let nBot = n - keep - nTop;
      if (nBot < 0) {
        nTop += nBot;
        nBot = 0;
      }
      mask = new Uint8Array(n);
      // keep ascending ranks [nBot, n − nTop): mark the first n − nTop, then unmark the first nBot.
      const abs32 = fillAbsDelta(
        o.model,
        o.base,
        o.scratch && o.scratch.length >= n ? o.scratch.subarray(0, n) : new Float32Array(n),
      );
      const exact = (j: number) => absDelta(o.model[j]!, o.base[j]!);
      selectFirst(abs32, exact, n - nTop, false, mask, 1);
      selectFirst(abs32, exact, nBot, false, mask, 0);
      break;
    }
    case 'della': {
      const r = dellaMask(o);
      mask = r.mask;
      entryScale = r.entryScale;
      break;
    }
  }
  let scale = 1;
  if (o.rescale === 'inverse_density') {
    if (!entryScale) scale = 1 / o.density;
  } else if (o.rescale) {
    let all = 0;
    let kept = 0;
    const { model, base } = o;
    for (let j = 0; j < n; j++) {
      const a = Math.abs(model[j]! - base[j]!);
      all += a;
      if (mask[j]) kept += a;
    }
    if (all >= RESCALE_MIN_NORM && kept >= RESCALE_MIN_NORM) scale = all / kept;
  }
  return entryScale ? { mask, scale, entryScale } : { mask, scale };
}

/** The random stream of (tensor name, model index): FNV-1a of the name's UTF-16 units, times 2^20, plus the index. */
export function streamId(tensorName: string, modelIndex: number): number {
  if (!Number.isInteger(modelIndex) || modelIndex < 0 || modelIndex >= MAX_MODELS) {
    throw new RangeError(`model index ${modelIndex} is outside 0 … ${MAX_MODELS - 1}`);
  }
  let h = 0x811c9dc5;
  for (let i = 0; i < tensorName.length; i++) h = Math.imul(h ^ tensorName.charCodeAt(i), 0x01000193) >>> 0;
  return h * MAX_MODELS + modelIndex;
}

/** DELLA: per row, keep with probability p = (density − ε) + 2ε · rank/(len − 1), ranks by |δ| ascending. */
function dellaMask(o: SparsifyOptions): { mask: Uint8Array; entryScale?: Float32Array } {
  const { model, base, density, epsilon } = o;
  if (!(density - epsilon > 0 && density + epsilon < 1)) {
    throw new UsageError(
      'USAGE',
      `tensor ${JSON.stringify(o.tensorName)}: della needs 0 < density − epsilon and density + epsilon < 1 (density ${density}, epsilon ${epsilon})`,
      { tensor: o.tensorName },
    );
  }
  const n = model.length;
  const rows = o.shape.length >= 2 ? o.shape[0]! : 1;
  const len = rows === 0 ? 0 : n / rows;
  const mask = new Uint8Array(n);
  const entryScale = o.rescale === 'inverse_density' ? new Float32Array(n) : undefined;
  const stream = streamId(o.tensorName, o.modelIndex);
  const keys = new Float64Array(len);
  const order = new Uint32Array(len);
  const u = new Float32Array(len);
  const p = new Float64Array(len);
  for (let row = 0; row < rows; row++) {
    const start = row * len;
    for (let i = 0; i < len; i++) {
      keys[i] = Math.abs(model[start + i]! - base[start + i]!);
      order[i] = i;
    }
    order.sort((x, y) => keys[x]! - keys[y]! || x - y);
    for (let rank = 0; rank < len; rank++) {
      const r = len === 1 ? 0.5 : rank / (len - 1);
      p[order[rank]!] = density - epsilon + 2 * epsilon * r;
    }
    fillUniform(u, o.seed, stream, start);
    for (let i = 0; i < len; i++) {
      if (u[i]! < p[i]!) {
        mask[start + i] = 1;
        if (entryScale) entryScale[start + i] = 1 / p[i]!;
      }
    }
  }
  return entryScale ? { mask, entryScale } : { mask };
}

/** |a − b| in float64 (exact for float32 inputs), with NaN ranked as +∞ so ordering stays total. */
function absDelta(a: number, b: number): number {
  const d = Math.abs(a - b);
  return Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
}

/** Fills `out[j]` with |model_j − base_j| rounded to float32: its bits order the entries (see `selectFirst`). */
export function fillAbsDelta(model: Float32Array, base: Float32Array, out: Float32Array): Float32Array {
  const n = model.length;
  for (let j = 0; j < n; j++) out[j] = Math.abs(model[j]! - base[j]!);
  return out;
}

/** Where the first `m` entries end: the entries strictly beyond `threshold`, plus `equalTaken` equal to it. */
interface Cut {
  /** Float32 bits of the final bucket. */
  bits: number;
  threshold: number;
  equalTaken: number;
}

/**
 * Radix selection over `abs32` = |δ| rounded to float32 (rounding is monotone, so its bits order the exact values
 * up to ties): a histogram of the high 16 bits, then of the low 16 bits inside the chosen bucket, then an exact
 * float64 sort (`exact(j)`) of the few entries sharing the final float32 value. O(numel), no full sort.
 */
function cut(abs32: Float32Array, exact: (j: number) => number, m: number, descending: boolean): Cut {
  const n = abs32.length;
  const bits = new Uint32Array(abs32.buffer, abs32.byteOffset, n);
  const hist = new Float64Array(65536);
  for (let j = 0; j < n; j++) hist[(bits[j]! & 0x7fffffff) >>> 16]!++;
  const [hi, beforeHi] = walk(hist, m, descending);
  hist.fill(0);
  for (let j = 0; j < n; j++) {
    const w = bits[j]! & 0x7fffffff;
    if (w >>> 16 === hi) hist[w & 0xffff]!++;
  }
  const [lo, beforeLo] = walk(hist, m - beforeHi, descending);
  const target = ((hi << 16) | lo) >>> 0;
  const candidates = new Float64Array(hist[lo]!);
  let c = 0;
  for (let j = 0; j < n; j++) if ((bits[j]! & 0x7fffffff) === target) candidates[c++] = exact(j);
  candidates.sort();
  const r = m - beforeHi - beforeLo; // 1 … candidates.length
  const threshold = descending ? candidates[candidates.length - r]! : candidates[r - 1]!;
  let beyond = 0;
  for (let i = 0; i < candidates.length; i++) {
    const x = candidates[i]!;
    if (descending ? x > threshold : x < threshold) beyond++;
  }
  return { bits: target, threshold, equalTaken: r - beyond };
}

/** The bucket where the running count reaches `m`, and the count strictly before it. */
function walk(hist: Float64Array, m: number, descending: boolean): [number, number] {
  let cum = 0;
  if (descending) {
    for (let h = 65535; h >= 0; h--) {
      const c = hist[h]!;
      if (cum + c >= m) return [h, cum];
      cum += c;
    }
  } else {
    for (let h = 0; h < 65536; h++) {
      const c = hist[h]!;
      if (cum + c >= m) return [h, cum];
      cum += c;
    }
  }
  throw new RangeError('rank beyond the histogram');
}

/**
 * Sets `mask[j] = value` for the first `m` entries in order of `abs32` (descending or ascending), ties broken
 * by exact value (`exact(j)`, float64) and then by lower index. m ≤ 0 marks nothing, m ≥ numel everything.
 */
export function selectFirst(
  abs32: Float32Array,
  exact: (j: number) => number,
  m: number,
  descending: boolean,
  mask: Uint8Array,
  value: 0 | 1,
): void {
  const n = abs32.length;
  if (m <= 0) return;
  if (m >= n) {
    mask.fill(value);
    return;
  }
  const { bits: target, threshold, equalTaken } = cut(abs32, exact, m, descending);
  const bits = new Uint32Array(abs32.buffer, abs32.byteOffset, n);
  let equal = 0;
  if (descending) {
    for (let j = 0; j < n; j++) {
      const b = bits[j]! & 0x7fffffff;
      if (b > target) mask[j] = value;
      else if (b === target) {
        const a = exact(j);
        if (a > threshold || (a === threshold && equal++ < equalTaken)) mask[j] = value;
      }
    }
  } else {
    for (let j = 0; j < n; j++) {
      const b = bits[j]! & 0x7fffffff;
      if (b < target) mask[j] = value;
      else if (b === target) {
        const a = exact(j);
        if (a < threshold || (a === threshold && equal++ < equalTaken)) mask[j] = value;
      }
    }
  }
}

/**
 * Where the first `m` entries in order of |model − base| (descending or ascending) end, ties broken by lower
 * index: they are the entries strictly beyond `threshold`, plus the first `equalTaken` (by index) equal to it.
 *
 * @example rankCut(new Float32Array([3, 1, 2]), new Float32Array(3), 2, true) // { threshold: 2, equalTaken: 1 }
 */
export function rankCut(
  model: Float32Array,
  base: Float32Array,
  m: number,
  descending: boolean,
): { threshold: number; equalTaken: number } {
  const n = model.length;
  if (!(m >= 1 && m <= n)) throw new RangeError(`rank ${m} is outside 1 … ${n}`);
  const { threshold, equalTaken } = cut(
    fillAbsDelta(model, base, new Float32Array(n)),
    (j) => absDelta(model[j]!, base[j]!),
    m,
    descending,
  );
  return { threshold, equalTaken };
}

/**
 * Sets `mask[j] = value` for the first `m` entries in order of |model − base| (see `rankCut`); m = 0 marks
 * nothing, m = numel everything. `scratch` (numel floats) avoids an allocation.
 *
 * @example markFirst(model, base, 2, true, mask, 1) // marks the two largest |δ|
 */
export function markFirst(
  model: Float32Array,
  base: Float32Array,
  m: number,
  descending: boolean,
  mask: Uint8Array,
  value: 0 | 1,
  scratch?: Float32Array,
): void {
  const n = model.length;
  const abs32 = fillAbsDelta(
    model,
    base,
    scratch && scratch.length >= n ? scratch.subarray(0, n) : new Float32Array(n),
  );
  selectFirst(abs32, (j) => absDelta(model[j]!, base[j]!), m, descending, mask, value);
}
