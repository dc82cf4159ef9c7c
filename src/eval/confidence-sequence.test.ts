// Tests for confidence-sequence.ts: the first step by hand, time-uniform coverage by simulation, the mapping.

import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import { fillUniform } from '../tensor/rng.js';
import { EmpiricalBernsteinCS, PairedDifferenceCS } from './confidence-sequence.js';

describe('EmpiricalBernsteinCS', () => {
  it('computes the first two steps of Thm. 2 as written', () => {
    const alpha = 0.05;
    const cs = new EmpiricalBernsteinCS({ alpha });
    const L = Math.log(2 / alpha);
    // t = 1: σ̂²_0 = 1/4, μ̂_0 = 1/2.
    const l1 = Math.min(Math.sqrt((2 * L) / (0.25 * 1 * Math.log(2))), 0.5);
    const psi = (l: number) => (-Math.log(1 - l) - l) / 4;
    cs.push(1);
    const v1 = 4 * (1 - 0.5) ** 2;
    const c1 = (l1 * 1) / l1;
    const w1 = (L + v1 * psi(l1)) / l1;
    expect(cs.lower).toBeCloseTo(Math.max(0, c1 - w1), 12);
    expect(cs.upper).toBeCloseTo(Math.min(1, c1 + w1), 12);
    // t = 2: μ̂_1 = (1/2 + 1)/2 = 0.75, σ̂²_1 = (1/4 + (1 − 0.75)²)/2.
    const s1 = (0.25 + 0.0625) / 2;
    const l2 = Math.min(Math.sqrt((2 * L) / (s1 * 2 * Math.log(3))), 0.5);
    cs.push(0.25);
    const v2 = 4 * (0.25 - 0.75) ** 2;
    const c2 = (l1 * 1 + l2 * 0.25) / (l1 + l2);
    const w2 = (L + v1 * psi(l1) + v2 * psi(l2)) / (l1 + l2);
    expect(cs.upper).toBeCloseTo(Math.min(1, c1 + w1, c2 + w2), 12);
    expect(cs.lower).toBeCloseTo(Math.max(0, c1 - w1, c2 - w2), 12);
    expect(cs.count).toBe(2);
    expect(cs.mean).toBe(0.625);
  });

  it('narrows monotonically and around the mean of constant data', () => {
    const cs = new EmpiricalBernsteinCS({ alpha: 0.05 });
    let width = 1;
    for (let i = 0; i < 2000; i++) {
      cs.push(0.3);
      expect(cs.upper - cs.lower).toBeLessThanOrEqual(width);
      width = cs.upper - cs.lower;
    }
    expect(cs.lower).toBeLessThan(0.3);
    expect(cs.upper).toBeGreaterThan(0.3);
    expect(width).toBeLessThan(0.02);
  });

  it('covers the true mean at every step simultaneously in ≥ 1 − α of runs', () => {
    const alpha = 0.1;
    const runs = 1000;
    const steps = 1000;
    const p = 0.3;
    const u = new Float32Array(steps);
    let misses = 0;
    for (let r = 0; r < runs; r++) {
      fillUniform(u, 99, r, 0);
      const cs = new EmpiricalBernsteinCS({ alpha });
      for (let i = 0; i < steps; i++) {
        cs.push(u[i]! < p ? 1 : 0);
        if (cs.lower > p || cs.upper < p) {
          misses++;
          break;
        }
      }
    }
    expect(misses / runs).toBeLessThanOrEqual(alpha);
  });

  it('refuses observations outside [0, 1] and a bad alpha', () => {
    expect(() => new EmpiricalBernsteinCS({ alpha: 0 })).toThrow(UsageError);
    const cs = new EmpiricalBernsteinCS({ alpha: 0.05 });
    expect(() => cs.push(1.5)).toThrow(/outside \[0, 1\]/);
    expect(() => cs.push(Number.NaN)).toThrow(UsageError);
  });
});

describe('PairedDifferenceCS', () => {
  it('maps differences through x = (d + R) / 2R and back', () => {
    const cs = new PairedDifferenceCS({ alpha: 0.05, scoreRange: [0, 10] });
    const inner = new EmpiricalBernsteinCS({ alpha: 0.05 });
    for (const d of [10, -10, 0, 5, 2.5]) {
      cs.push(d);
      inner.push((d + 10) / 20);
    }
    expect(cs.estimate).toBeCloseTo(7.5 / 5, 12);
    expect(cs.lower).toBeCloseTo(inner.lower * 20 - 10, 12);
    expect(cs.upper).toBeCloseTo(inner.upper * 20 - 10, 12);
    expect(() => cs.push(10.5)).toThrow(/outside \[-10, 10\]/);
  });

  it('refuses an empty score range', () => {
    expect(() => new PairedDifferenceCS({ alpha: 0.05, scoreRange: [1, 1] })).toThrow(UsageError);
  });
});
