// Tests for permutation.ts: a permutation, deterministic per seed, uniform over small sets.

import { describe, expect, it } from 'vitest';
import { permuteIds } from './permutation.js';

describe('permuteIds', () => {
  it('returns every id once, the same order for the same seed, another for another seed', () => {
    const ids = Array.from({ length: 500 }, (_, i) => `id${i}`);
    const a = permuteIds({ ids, seed: 7 });
    expect([...a].sort()).toEqual([...ids].sort());
    expect(permuteIds({ ids, seed: 7 })).toEqual(a);
    expect(permuteIds({ ids, seed: 8 })).not.toEqual(a);
    expect(ids[0]).toBe('id0'); // input untouched
  });

  it('is uniform over the 6 orders of 3 ids (chi-square, 6000 seeds)', () => {
    const counts = new Map<string, number>();
    for (let seed = 0; seed < 6000; seed++) {
      const key = permuteIds({ ids: ['a', 'b', 'c'], seed }).join('');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    expect(counts.size).toBe(6);
    const chi2 = [...counts.values()].reduce((s, c) => s + (c - 1000) ** 2 / 1000, 0);
    expect(chi2).toBeLessThan(20.5); // p ≈ 0.001 for 5 degrees of freedom
  });

  it('handles empty and single lists', () => {
    expect(permuteIds({ ids: [], seed: 1 })).toEqual([]);
    expect(permuteIds({ ids: ['x'], seed: 1 })).toEqual(['x']);
  });
});
