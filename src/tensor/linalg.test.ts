import { describe, expect, it } from 'vitest';
import { estimateLowRank, randomizedSvd, refitLeftWeighted, roundMantissa, symmetricEigen } from './linalg.js';

function lowRank(rows: number, cols: number, rank: number, noise: number): Float32Array {
  const m = new Float32Array(rows * cols);
  let x = 12345;
  const rnd = () => {
    x = (x * 1103515245 + 12345) >>> 0;
    return x / 2 ** 32 - 0.5;
  };
  const l = Array.from({ length: rows * rank }, rnd);
  const r = Array.from({ length: rank * cols }, rnd);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      let s = 0;
      for (let k = 0; k < rank; k++) s += l[i * rank + k]! * r[k * cols + j]!;
      m[i * cols + j] = s + noise * rnd();
    }
  }
  return m;
}

describe('linear algebra', () => {
  it('finds eigenvalues of a symmetric matrix', () => {
    const { values, vectors } = symmetricEigen(new Float64Array([2, 1, 1, 2]), 2);
    expect(values[0]).toBeCloseTo(3, 12);
    expect(values[1]).toBeCloseTo(1, 12);
    expect(Math.abs(vectors[0]!)).toBeCloseTo(Math.SQRT1_2, 12);
  });

  it('factorises an exactly low-rank matrix', () => {
    const rows = 60;
    const cols = 40;
    const m = lowRank(rows, cols, 3, 0);
    const f = randomizedSvd({ matrix: m, rows, cols, rank: 3, powerIterations: 2 });
    let err = 0;
    let norm = 0;
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) {
        let s = 0;
        for (let k = 0; k < 3; k++) s += f.left[i * 3 + k]! * f.right[k * cols + j]!;
        err += (s - m[i * cols + j]!) ** 2;
        norm += m[i * cols + j]! ** 2;
      }
    }
    expect(Math.sqrt(err / norm)).toBeLessThan(1e-5);
  });

  it('tells low-rank changes from full-rank ones', () => {
    expect(
      estimateLowRank({ matrix: lowRank(200, 150, 5, 1e-4), rows: 200, cols: 150, maxRank: 64, energy: 0.99 }),
    ).toBe(5);
    expect(
      estimateLowRank({ matrix: lowRank(200, 150, 150, 0), rows: 200, cols: 150, maxRank: 64, energy: 0.99 }),
    ).toBeUndefined();
    expect(
      estimateLowRank({ matrix: new Float32Array(100), rows: 10, cols: 10, maxRank: 4, energy: 0.99 }),
    ).toBeUndefined();
  });
});

describe('weighted refit and mantissa rounding', () => {
  it('recovers the left factor from the elements it trusts, ignoring the noisy ones', () => {
    const rows = 30;
    const cols = 24;
    const rank = 2;
    let x = 11;
    const rand = () => {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      return x / 2 ** 32 - 0.5;
    };
    const trueLeft = Float32Array.from({ length: rows * rank }, rand);
    const right = Float32Array.from({ length: rank * cols }, rand);
    const matrix = new Float32Array(rows * cols);
    const weights = new Float32Array(rows * cols);
    for (let i = 0; i < rows; i++) {
      for (let c = 0; c < cols; c++) {
        let v = 0;
        for (let p = 0; p < rank; p++) v += trueLeft[i * rank + p]! * right[p * cols + c]!;
        const trusted = (i + c) % 3 === 0;
        matrix[i * cols + c] = v + (trusted ? 1e-7 : 0.05) * rand();
        weights[i * cols + c] = trusted ? 1e6 : 1;
      }
    }
    const left = new Float32Array(rows * rank); // a poor start: zeros
    // Row 0 has no weight at all: its system is singular and it keeps its start.
    weights.fill(0, 0, cols);
    left[0] = 42;
    refitLeftWeighted({ matrix, rows, cols, rank, left, right, weights });
    expect(left[0]).toBe(42);
    for (let i = rank; i < rows * rank; i++) expect(Math.abs(left[i]! - trueLeft[i]!)).toBeLessThan(1e-4);
  });

  it('rounds float32 values to the nearest with the given mantissa bits, leaving Inf and NaN', () => {
    const v = Float32Array.of(1 + 2 ** -12, 1 + 2 ** -9, -2.5625, Number.POSITIVE_INFINITY, Number.NaN, 0);
    roundMantissa(v, 10);
    expect(v[0]).toBe(1); // a quarter of a step of 2^-10: down
    expect(v[1]).toBe(1 + 2 ** -9);
    expect(v[2]).toBe(-2.5625); // exactly representable in 10 bits: unchanged
    expect(v[3]).toBe(Number.POSITIVE_INFINITY);
    expect(Number.isNaN(v[4]!)).toBe(true);
    expect(v[5]).toBe(0);
  });
});
