// The seeded order in which a gate visits a suite's examples: a Fisher–Yates shuffle driven by the counter-based
// Philox stream, so the same (seed, ids) always gives the same order on every machine. Pure.

import { type Seed, uniform53At } from '../tensor/rng.js';

/** The Philox stream reserved for example orders ("gate" in ASCII), apart from the merge methods' streams. */
export const PERMUTATION_STREAM = 0x67617465;

/**
 * A uniformly random permutation of `ids` (a new array), seeded: Fisher–Yates from the end, where step i
 * swaps position i with j = ⌊u·(i+1)⌋ and u is draw number (n−1−i) of the Philox stream under `seed`.
 * 53-bit uniforms keep the modulo bias below 2^-20 for up to 2^33 ids.
 *
 * @example permuteIds({ ids: ['a', 'b', 'c'], seed: 7 }) // the same order every time
 */
export function permuteIds<T>(options: { ids: readonly T[]; seed: Seed }): T[] {
  const out = options.ids.slice();
  for (let i = out.length - 1, draw = 0; i > 0; i--, draw++) {
    const j = Math.floor(uniform53At(options.seed, PERMUTATION_STREAM, draw) * (i + 1));
    const tmp = out[i]!;
    out[i] = out[j]!;
    out[j] = tmp;
  }
  return out;
}
