// Successive halving for tuning a merge by evaluation (EVALUATION.md): spend examples on the promising settings.
// Pure: scores come from the caller's `score` function (which reads a cache or runs the evaluator).

import { UsageError } from '../errors.js';

export interface HalvingRound {
  /** Examples every surviving setting has been scored on (a prefix of the shuffled ids). */
  examples: number;
  /** Setting index → mean score over those examples, for the settings in this round. */
  means: Record<number, number>;
  /** The settings kept for the next round. */
  kept: number[];
}

export interface HalvingResult {
  winner: number;
  rounds: HalvingRound[];
}

/**
 * Successive halving over `settings` candidates: score all on the first `initialExamples` ids, keep the better
 * half (by mean score, ties by lower setting index), double the examples, repeat until one is left or the ids
 * run out (then the best mean wins). `score(setting, ids)` returns that setting's scores for exactly `ids`; it
 * is called only for ids the setting has not been scored on yet.
 *
 * @example
 * const { winner } = await successiveHalving({ settings: 3, ids: permuted, initialExamples: 32,
 *   score: async (k, ids) => ids.map((id) => scoreOf(k, id)) });
 */
export async function successiveHalving(options: {
  settings: number;
  ids: readonly string[];
  initialExamples: number;
  score: (setting: number, ids: readonly string[]) => Promise<readonly number[]>;
}): Promise<HalvingResult> {
  const { settings, ids, score } = options;
  if (!Number.isSafeInteger(settings) || settings < 1)
    throw new UsageError('USAGE', `successive halving needs ≥ 1 setting, got ${settings}`);
  if (!Number.isSafeInteger(options.initialExamples) || options.initialExamples < 1) {
    throw new UsageError('USAGE', `successive halving: initial examples ${options.initialExamples} must be ≥ 1`);
  }
  if (ids.length === 0) throw new UsageError('USAGE', 'successive halving: no example ids');
  const sums = new Float64Array(settings);
  const done = new Array<number>(settings).fill(0);
  let alive = Array.from({ length: settings }, (_, k) => k);
  const rounds: HalvingRound[] = [];
  let n = Math.min(options.initialExamples, ids.length);
  for (;;) {
    const means: Record<number, number> = {};
    for (const k of alive) {
      const fresh = ids.slice(done[k]!, n);
      if (fresh.length > 0) {
        const scores = await score(k, fresh);
        if (scores.length !== fresh.length) {
          throw new UsageError(
            'USAGE',
            `successive halving: setting ${k} returned ${scores.length} scores for ${fresh.length} ids`,
          );
        }
        for (const s of scores) sums[k]! += s;
        done[k] = n;
      }
      means[k] = sums[k]! / n;
    }
    const ranked = [...alive].sort((a, b) => means[b]! - means[a]! || a - b);
    const last = alive.length === 1 || n >= ids.length;
    const kept = last ? ranked.slice(0, 1) : ranked.slice(0, Math.ceil(alive.length / 2));
    rounds.push({ examples: n, means, kept });
    alive = kept;
    if (last || alive.length === 1) return { winner: alive[0]!, rounds };
    n = Math.min(2 * n, ids.length);
  }
}
