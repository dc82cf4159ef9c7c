// Tests for the sparsifiers: radix selection equals a full sort (ties by lower index, heavy ties, zeros, NaN),
// DARE and DELLA reproducible from the seed and independent of order, rescale variants.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { uniformAt } from '../tensor/rng.js';
import { markFirst, rankCut, type SparsifyOptions, sparsify, streamId } from './sparsify.js';

const f = (...xs: number[]) => Float32Array.from(xs);

function sortedFirst(model: Float32Array, base: Float32Array, m: number, descending: boolean): number[] {
  const a = Array.from(model, (v, i) => Math.abs(v - base[i]!));
  const order = a.map((_, i) => i).sort((x, y) => (descending ? a[y]! - a[x]! : a[x]! - a[y]!) || x - y);
  return order.slice(0, m).sort((x, y) => x - y);
}

function marked(model: Float32Array, base: Float32Array, m: number, descending: boolean): number[] {
  const mask = new Uint8Array(model.length);
  markFirst(model, base, m, descending, mask, 1);
  return [...mask.keys()].filter((i) => mask[i] === 1);
}

function options(model: Float32Array, extra: Partial<SparsifyOptions> = {}): SparsifyOptions {
  return {
    model,
    base: new Float32Array(model.length),
    shape: [model.length],
    tensorName: 'w',
    modelIndex: 0,
    density: 0.5,
    gamma: 0.01,
    epsilon: 0.1,
    seed: 0,
    rescale: false,
    ...extra,
  };
}

describe('rank selection', () => {
  it('finds the threshold and how many ties to take', () => {
    expect(rankCut(f(3, 1, 2), f(0, 0, 0), 2, true)).toEqual({ threshold: 2, equalTaken: 1 });
    expect(rankCut(f(1, 1, 1, 1), f(0, 0, 0, 0), 3, true)).toEqual({ threshold: 1, equalTaken: 3 });
    expect(marked(f(1, 1, 1, 1), f(0, 0, 0, 0), 3, true)).toEqual([0, 1, 2]);
    expect(marked(f(5, -1, 1, 0), f(0, 0, 0, 0), 2, false)).toEqual([1, 3]);
  });

  it('matches a full sort on random data with many ties, either direction', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -6, max: 6 }), { minLength: 1, maxLength: 200 }),
        fc.array(fc.float({ noNaN: true, min: -1e6, max: 1e6 }), { maxLength: 50 }),
        fc.nat(),
        fc.boolean(),
        (ints, floats, mRaw, descending) => {
          const model = Float32Array.from([...ints.map((v) => v / 4), ...floats]);
          const base = new Float32Array(model.length);
          const m = mRaw % (model.length + 1);
          expect(marked(model, base, m, descending)).toEqual(sortedFirst(model, base, m, descending));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('ranks exact float64 differences that round to the same float32', () => {
    // δ0 = 2^24 + 1 and δ1 = 2^24 + 1 + 2^-24 both round to 2^24 in float32; δ1 is the larger.
    const model = f(2 ** 24 + 2, 2 ** 24 + 2);
    const base = f(1, 1 - 2 ** -24);
    expect(marked(model, base, 1, true)).toEqual([1]);
    expect(marked(model, base, 1, false)).toEqual([0]);
  });

  it('orders NaN deltas as the largest', () => {
    expect(marked(f(Number.NaN, 1, 2), f(0, 0, 0), 1, true)).toEqual([0]);
  });
});

describe('sparsifiers', () => {
  it('are the identity at density 1', () => {
    for (const name of ['magnitude', 'random', 'magnitude_outliers', 'della'] as const) {
      expect(sparsify(name, options(f(1, 2, 3), { density: 1 }))).toEqual({ mask: undefined, scale: 1 });
    }
  });

  it('magnitude keeps floor(density · numel) entries', () => {
    const r = sparsify('magnitude', options(f(0.1, -4, 2, 3, -0.5), { density: 0.5 }));
    expect(Array.from(r.mask!)).toEqual([0, 1, 0, 1, 0]);
  });

  it('rescale keeps the L1 norm, or divides by density', () => {
    const model = f(1, -4, 2, 3);
    expect(sparsify('magnitude', options(model, { rescale: true })).scale).toBe(10 / 7);
    expect(sparsify('magnitude', options(model, { rescale: 'inverse_density' })).scale).toBe(2);
    // an all-zero delta is not rescaled
    expect(sparsify('random', options(f(0, 0, 0, 0), { rescale: true })).scale).toBe(1);
  });

  it('random (DARE) draws Philox(seed, stream(name, model), index) < density', () => {
    const model = new Float32Array(1000).fill(1);
    const r = sparsify('random', options(model, { seed: 42, modelIndex: 2, tensorName: 'layers.1.w' }));
    const s = streamId('layers.1.w', 2);
    const expected = Array.from(model, (_, j) => (uniformAt(42, s, j) < 0.5 ? 1 : 0));
    expect(Array.from(r.mask!)).toEqual(expected);
    const kept = expected.reduce((a: number, v) => a + v, 0);
    expect(kept).toBeGreaterThan(430);
    expect(kept).toBeLessThan(570);
  });

  it('random and della are reproducible from the seed and differ across seeds, models and tensors', () => {
    const model = Float32Array.from({ length: 4096 }, (_, i) => Math.sin(i));
    for (const name of ['random', 'della'] as const) {
      const shape = name === 'della' ? [64, 64] : [4096];
      const a = sparsify(name, options(model, { seed: 5, shape }));
      const again = sparsify(name, options(model, { seed: 5, shape }));
      expect(again.mask).toEqual(a.mask);
      expect(sparsify(name, options(model, { seed: 6, shape })).mask).not.toEqual(a.mask);
      expect(sparsify(name, options(model, { seed: 5, shape, modelIndex: 1 })).mask).not.toEqual(a.mask);
      expect(sparsify(name, options(model, { seed: 5, shape, tensorName: 'v' })).mask).not.toEqual(a.mask);
    }
  });

  it('della keeps large entries more often than small ones', () => {
    const n = 64 * 64;
    const model = Float32Array.from({ length: n }, (_, i) => (i % 64) + 1);
    const r = sparsify('della', options(model, { shape: [64, 64], density: 0.5, epsilon: 0.4, seed: 1 }));
    let low = 0;
    let high = 0;
    for (let j = 0; j < n; j++) {
      if (j % 64 < 16) low += r.mask![j]!;
      if (j % 64 >= 48) high += r.mask![j]!;
    }
    expect(high).toBeGreaterThan(low * 3);
  });

  it('della refuses density ± epsilon outside (0, 1)', () => {
    expect(() => sparsify('della', options(f(1, 2, 3, 4), { density: 0.1, epsilon: 0.15 }))).toThrow(
      /tensor "w": della needs 0 < density − epsilon/,
    );
  });

  it('stream ids pack the name hash and the model index', () => {
    expect(streamId('', 0)).toBe(0x811c9dc5 * 2 ** 20);
    expect(streamId('w', 3) - streamId('w', 0)).toBe(3);
    expect(() => streamId('w', 2 ** 20)).toThrow(RangeError);
  });
});
