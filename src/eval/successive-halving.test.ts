// Tests for successive-halving.ts: halving order, ties by index, incremental scoring, exhaustion.

import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import { successiveHalving } from './successive-halving.js';

const ids = Array.from({ length: 100 }, (_, i) => String(i));

describe('successiveHalving', () => {
  it('halves by mean, doubles the examples and scores each id at most once per setting', async () => {
    const asked: Record<number, string[]> = {};
    // Setting k is right on an id when id mod 10 < k (k = 0..4): setting 4 is best.
    const result = await successiveHalving({
      settings: 5,
      ids,
      initialExamples: 10,
      score: async (k, batch) => {
        asked[k] = [...(asked[k] ?? []), ...batch];
        return batch.map((id) => (Number(id) % 10 < k ? 1 : 0));
      },
    });
    expect(result.winner).toBe(4);
    expect(result.rounds.map((r) => [r.examples, r.kept])).toEqual([
      [10, [4, 3, 2]],
      [20, [4, 3]],
      [40, [4]],
    ]);
    expect(asked[4]).toEqual(ids.slice(0, 40));
    expect(asked[0]).toEqual(ids.slice(0, 10));
  });

  it('breaks ties by the lower setting index and stops when the ids run out', async () => {
    const result = await successiveHalving({
      settings: 4,
      ids: ids.slice(0, 15),
      initialExamples: 10,
      score: async (_, batch) => batch.map(() => 1),
    });
    expect(result.winner).toBe(0);
    expect(result.rounds.map((r) => r.examples)).toEqual([10, 15]);
  });

  it('refuses zero settings and a wrong number of scores', async () => {
    await expect(successiveHalving({ settings: 0, ids, initialExamples: 1, score: async () => [] })).rejects.toThrow(
      UsageError,
    );
    await expect(successiveHalving({ settings: 2, ids, initialExamples: 2, score: async () => [1] })).rejects.toThrow(
      /returned 1 scores/,
    );
  });
});
