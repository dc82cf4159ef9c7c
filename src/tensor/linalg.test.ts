import { describe, expect, it } from 'vitest';
import { estimateLowRank, randomizedSvd, symmetricEigen } from './linalg.js';

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
