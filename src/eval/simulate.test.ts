// The statistical acceptance tests: simulated Bernoulli gates with fixed seeds (EVALUATION.md).

import { describe, expect, it } from 'vitest';
import { summariseScenario } from './simulate.js';

describe('simulated gates', () => {
  it('false-accepts at most alpha of 2,000 gates whose true improvement equals min_improvement', () => {
    for (const minImprovement of [0, 0.02]) {
      const s = summariseScenario(
        { delta: minImprovement, minImprovement, alpha: 0.05, suiteSize: 4000, seed: 20260101 },
        2000,
      );
      expect(s.accept).toBeLessThanOrEqual(0.05);
    }
  });

  it('decides a +0.05 improvement on 0/1 scores with a median ≤ 25% of a 10,000-example suite', () => {
    const s = summariseScenario({ delta: 0.05, suiteSize: 10_000, seed: 20260102 }, 2000);
    expect(s.medianUsed).toBeLessThanOrEqual(2500);
    expect(s.accept).toBeGreaterThan(0.95);
  });

  it('rejects a −0.05 change and rarely accepts it', () => {
    const s = summariseScenario({ delta: -0.05, suiteSize: 10_000, seed: 20260103 }, 500);
    expect(s.reject).toBeGreaterThan(0.95);
    expect(s.accept).toBe(0);
  });
});
