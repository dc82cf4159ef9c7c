// The laws of MERGING.md, run over every registered method: a fixed point (all inputs x → x), idempotence
// where the method declares it, an unchanged side is a no-op for ancestor-based methods, determinism, and
// inputs are never written.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { MergeInputs, MergeMethod } from './method.js';
import type { Scalar } from './params.js';
import { MERGE_METHODS, runMerge } from './registry.js';

const SHAPE = [6, 8];
const NUMEL = 48;

function randomArray(seed: number, n = NUMEL): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 2;
  }
  return out;
}

/** A positive-definite Gram matrix for an [6, 8] weight: XᵀX/n of random X plus a ridge. */
function gram(seed: number): Float32Array {
  const cols = SHAPE[1]!;
  const x = randomArray(seed, 16 * cols);
  const g = new Float32Array(cols * cols);
  for (let p = 0; p < cols; p++) {
    for (let q = 0; q < cols; q++) {
      let s = 0;
      for (let r = 0; r < 16; r++) s += x[r * cols + p]! * x[r * cols + q]!;
      g[p * cols + q] = s / 16 + (p === q ? 0.1 : 0);
    }
  }
  return g;
}

/** Parameters that make every method runnable, with sparsifiers actually sparsifying where they exist. */
function paramsFor(m: MergeMethod): Record<string, Scalar> {
  const p: Record<string, Scalar> = {};
  if (m.params.weight) p.weight = 1;
  if (m.params.t) p.t = 0.5;
  if (m.params.density) p.density = 0.6;
  if (m.params.epsilon && m.name.startsWith('della')) p.epsilon = 0.1;
  return p;
}

function inputs(m: MergeMethod, base: Float32Array, models: Float32Array[], params = paramsFor(m)): MergeInputs {
  const x: MergeInputs = { tensorName: 'layers.1.w', shape: SHAPE, models, params, seed: 7 };
  if (m.base !== 'none') x.base = base;
  if (m.statistics === 'fisher') x.statistics = models.map((_, i) => randomArray(100 + i).map(Math.abs));
  if (m.statistics === 'gram') x.statistics = models.map((_, i) => gram(200 + i));
  return x;
}

function count(m: MergeMethod): number {
  return Math.max(m.arity.min, Math.min(2, m.arity.max));
}

function expectClose(actual: Float32Array, expected: Float32Array, tol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  for (let j = 0; j < actual.length; j++) {
    if (Math.abs(actual[j]! - expected[j]!) > tol * Math.max(1, Math.abs(expected[j]!))) {
      expect.fail(`entry ${j}: ${actual[j]} vs ${expected[j]}`);
    }
  }
}

describe.each([...MERGE_METHODS.values()].map((m) => [m.name, m] as const))('%s obeys the laws', (_, m) => {
  it('fixed point: base and models all x give x', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e6 }), (seed) => {
        const x = randomArray(seed);
        const out = runMerge(
          m,
          inputs(
            m,
            x,
            Array.from({ length: count(m) }, () => x),
          ),
        );
        expectClose(out, x);
      }),
      { numRuns: 10 },
    );
  });

  it.runIf(m.laws.idempotent)('idempotent: copies of one model x give x, whatever the base', () => {
    const x = randomArray(1);
    const base = randomArray(2);
    const params = { ...paramsFor(m) };
    if (params.density !== undefined) params.density = 1; // sparsifying one copy differs from another's
    const out = runMerge(
      m,
      inputs(
        m,
        base,
        Array.from({ length: count(m) }, () => x),
        params,
      ),
    );
    expectClose(out, x);
  });

  it.runIf(m.laws.unchangedSideNoop)('an unchanged side is a no-op: merge(B; A, B) = merge(B; A)', () => {
    const base = randomArray(3);
    const a = randomArray(4);
    const c = randomArray(5);
    const without = runMerge(m, inputs(m, base, [a, c]));
    const withBase = runMerge(m, inputs(m, base, [a, c, base]));
    expect(withBase).toEqual(without);
  });

  it('is deterministic and leaves its inputs alone', () => {
    const base = randomArray(6);
    const models = Array.from({ length: count(m) }, (_, i) => randomArray(10 + i));
    const copies = models.map((t) => t.slice());
    const baseCopy = base.slice();
    const first = runMerge(m, inputs(m, base, models));
    const second = runMerge(m, inputs(m, base, models));
    expect(second).toEqual(first);
    expect(models).toEqual(copies);
    expect(base).toEqual(baseCopy);
    expect(first.every(Number.isFinite)).toBe(true);
  });
});
