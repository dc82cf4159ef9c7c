// Tests for rng.ts: Random123 known-answer vectors, order independence, and basic uniformity.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import { fillUniform, philox4x32, uniform53At, uniformAt } from './rng.js';

describe('philox4x32', () => {
  // Random123 kat_vectors, philox4x32_10 lines: counter, key, expected output.
  it.each([
    [
      [0, 0, 0, 0],
      [0, 0],
      [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
    ],
    [
      [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
      [0xffffffff, 0xffffffff],
      [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
    ],
    [
      [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
      [0xa4093822, 0x299f31d0],
      [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
    ],
  ] as const)('matches the known answer for counter %j', (counter, key, expected) => {
    expect(philox4x32(counter, key)).toEqual(expected);
  });
});

describe('uniformAt and fillUniform', () => {
  it('derive index i from word i % 4 of block ⌊i/4⌋, top 24 bits', () => {
    const words = philox4x32([1, 0, 5, 0], [42, 0]);
    for (let lane = 0; lane < 4; lane++) expect(uniformAt(42, 5, 4 + lane)).toBe((words[lane]! >>> 8) / 2 ** 24);
    const high = philox4x32([0, 1, 0, 1], [3, 1]);
    expect(uniformAt(2 ** 32 + 3, 2 ** 32, 2 ** 34)).toBe((high[0] >>> 8) / 2 ** 24);
  });

  it('accept a number or bigint seed alike', () => {
    expect(uniformAt(123456789012345, 0, 9)).toBe(uniformAt(123456789012345n, 0, 9));
    expect(uniformAt((1n << 64n) - 1n, 0, 0)).toBe(
      (philox4x32([0, 0, 0, 0], [0xffffffff, 0xffffffff])[0] >>> 8) / 2 ** 24,
    );
  });

  it('give the same value for an index whatever the chunking (fillUniform = uniformAt)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.integer({ min: 0, max: 2 ** 45 }),
        fc.integer({ min: 0, max: 13 }),
        (seed, stream, start, length) => {
          const out = fillUniform(new Float32Array(length), seed, stream, start);
          return out.every((x, j) => x === uniformAt(seed, stream, start + j));
        },
      ),
      { numRuns: 300 },
    );
    const whole = fillUniform(new Float32Array(100), 7, 1, 0);
    const parts = new Float32Array(100);
    fillUniform(parts.subarray(0, 33), 7, 1, 0);
    fillUniform(parts.subarray(33), 7, 1, 33);
    expect(parts).toEqual(whole);
  });

  it('give different sequences for different seeds and streams', () => {
    const a = fillUniform(new Float32Array(8), 1, 0, 0);
    expect(fillUniform(new Float32Array(8), 2, 0, 0)).not.toEqual(a);
    expect(fillUniform(new Float32Array(8), 1, 1, 0)).not.toEqual(a);
  });

  it('are float32-exact and in [0, 1); uniform53At uses 53 bits in [0, 1)', () => {
    const xs = fillUniform(new Float32Array(1000), 99, 0, 0);
    expect(xs.every((x) => x >= 0 && x < 1 && x * 2 ** 24 === Math.floor(x * 2 ** 24))).toBe(true);
    for (let i = 0; i < 100; i++) {
      const y = uniform53At(99, 0, i);
      expect(y >= 0 && y < 1 && Number.isInteger(y * 2 ** 53)).toBe(true);
    }
    const words = philox4x32([0, 0, 3, 0], [8, 0]);
    expect(uniform53At(8, 3, 1)).toBe(((words[2] >>> 5) * 2 ** 26 + (words[3] >>> 6)) / 2 ** 53);
  });

  it('have mean 1/2 and variance 1/12 over 1e5 draws', () => {
    for (const seed of [0, 12345]) {
      const xs = fillUniform(new Float32Array(100_000), seed, 0, 0);
      let sum = 0;
      let sq = 0;
      for (const x of xs) {
        sum += x;
        sq += x * x;
      }
      const mean = sum / xs.length;
      const variance = sq / xs.length - mean * mean;
      // Standard errors: 0.00091 for the mean, 0.00024 for the variance; allow about 5 of them.
      expect(Math.abs(mean - 0.5)).toBeLessThan(0.005);
      expect(Math.abs(variance - 1 / 12)).toBeLessThan(0.0015);
      // Ten equal bins, each within 5% of its expected 10 000.
      const bins = new Array<number>(10).fill(0);
      for (const x of xs) bins[Math.floor(x * 10)]!++;
      for (const b of bins) expect(Math.abs(b - 10_000)).toBeLessThan(500);
    }
    let sum53 = 0;
    for (let i = 0; i < 20_000; i++) sum53 += uniform53At(5, 0, i);
    expect(Math.abs(sum53 / 20_000 - 0.5)).toBeLessThan(0.011);
  });

  it('reject bad seeds, streams and indices with a UsageError', () => {
    for (const f of [
      () => uniformAt(-1, 0, 0),
      () => uniformAt(1.5, 0, 0),
      () => uniformAt(1n << 64n, 0, 0),
      () => uniformAt(-1n, 0, 0),
      () => uniformAt(0, -1, 0),
      () => uniformAt(0, 0, 2 ** 53),
      () => uniform53At(0, 0, Number.NaN),
      () => fillUniform(new Float32Array(4), 0, 0, Number.MAX_SAFE_INTEGER - 1),
    ]) {
      expect(f).toThrow(UsageError);
    }
  });
});
