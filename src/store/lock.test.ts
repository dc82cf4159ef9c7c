// Tests for lock.ts: the gc grace-period rule.

import { describe, expect, it } from 'vitest';
import { DEFAULT_GC_GRACE_MS, gcCutoffMs, isOlderThan } from './lock.js';

describe('gc grace period', () => {
  const now = 1_700_000_000_000;

  it('keeps anything modified within the grace period', () => {
    expect(DEFAULT_GC_GRACE_MS).toBe(3_600_000);
    expect(isOlderThan(now - 3_599_999, DEFAULT_GC_GRACE_MS, now)).toBe(false);
    expect(isOlderThan(now - 3_600_000, DEFAULT_GC_GRACE_MS, now)).toBe(true);
  });

  it('with a zero grace period, everything not modified in the future qualifies', () => {
    expect(isOlderThan(now, 0, now)).toBe(true);
    expect(isOlderThan(now + 1, 0, now)).toBe(false);
  });

  it('agrees with the cutoff passed to deleteObject', () => {
    for (const mtime of [now - 10, now - 5, now]) {
      expect(isOlderThan(mtime, 5, now)).toBe(mtime <= gcCutoffMs(5, now));
    }
  });
});
