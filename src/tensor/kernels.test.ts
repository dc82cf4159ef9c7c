// Tests for kernels.ts: tiny exact cases, float64 accumulation, and the NaN / signed-zero conventions.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { countDifferent, dot, l2Norm, maxAbsDiff } from './kernels.js';

const f = (...xs: number[]) => Float32Array.from(xs);

describe('l2Norm and dot', () => {
  it('compute exact small cases', () => {
    expect(l2Norm(f(3, 4))).toBe(5);
    expect(l2Norm(f())).toBe(0);
    expect(dot(f(1, 2, 3), f(4, -5, 6))).toBe(12);
    expect(dot(f(), f())).toBe(0);
  });
  it('accumulate in float64', () => {
    // In float32, 2^24 + 1 + 1 + … loses every 1; float64 keeps them.
    const a = new Float32Array(1001).fill(1);
    a[0] = 2 ** 24;
    expect(dot(a, new Float32Array(1001).fill(1))).toBe(2 ** 24 + 1000);
    // Squares of large float32 values overflow float32, not float64.
    expect(l2Norm(f(3e38, 3e38)) / Math.fround(3e38)).toBeCloseTo(Math.SQRT2, 12);
  });
  it('agree: l2Norm(a)^2 = dot(a, a)', () => {
    fc.assert(
      fc.property(fc.array(fc.float({ min: -1000, max: 1000, noNaN: true }), { maxLength: 64 }), (xs) => {
        const a = Float32Array.from(xs);
        const n = l2Norm(a);
        return Math.abs(n * n - dot(a, a)) <= 1e-9 * (1 + dot(a, a));
      }),
    );
  });
  it('reject arrays of different lengths', () => {
    expect(() => dot(f(1), f(1, 2))).toThrow(RangeError);
    expect(() => maxAbsDiff(f(1), f())).toThrow(RangeError);
    expect(() => countDifferent(f(), f(1))).toThrow(RangeError);
  });
});

describe('maxAbsDiff and countDifferent', () => {
  it('compute exact small cases', () => {
    expect(maxAbsDiff(f(1, 2), f(1.5, -1))).toBe(3);
    expect(maxAbsDiff(f(), f())).toBe(0);
    expect(maxAbsDiff(f(3e38), f(-3e38))).toBe(2 * Math.fround(3e38)); // exact in float64, past float32 max
    expect(countDifferent(f(1, 2, 3), f(1, 2.5, 3))).toBe(1);
  });
  it('treat -0 and 0, NaN and NaN, and equal infinities as the same', () => {
    const inf = Number.POSITIVE_INFINITY;
    expect(maxAbsDiff(f(-0, Number.NaN, inf), f(0, Number.NaN, inf))).toBe(0);
    expect(countDifferent(f(-0, Number.NaN, inf), f(0, Number.NaN, inf))).toBe(0);
    expect(maxAbsDiff(f(inf), f(-inf))).toBe(inf);
  });
  it('report a NaN facing a number', () => {
    expect(maxAbsDiff(f(1, Number.NaN), f(1, 2))).toBeNaN();
    expect(maxAbsDiff(f(5, 0), f(0, Number.NaN))).toBeNaN();
    expect(countDifferent(f(1, Number.NaN), f(1, 2))).toBe(1);
  });
  it('are zero exactly for identical arrays', () => {
    fc.assert(
      fc.property(fc.array(fc.float(), { maxLength: 32 }), (xs) => {
        const a = Float32Array.from(xs);
        return maxAbsDiff(a, a.slice()) === 0 && countDifferent(a, a.slice()) === 0;
      }),
    );
  });
});
