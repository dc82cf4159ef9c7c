// Tests for one tensor of a policy merge (the merge driver's entry point) and its conflict report.

import { describe, expect, it } from 'vitest';
import { conflictReport } from './conflict-report.js';
import { mergeTensorWithPolicy } from './merge-tensor.js';
import { parseMergePolicy } from './policy.js';

const f = (...xs: number[]) => Float32Array.from(xs);
const base = f(0, 0, 0, 0);
const ours = f(1, 1, 0, 0);
const theirs = f(1, -1, 2, 0);

describe('conflictReport', () => {
  it('reports overlap, sign disagreement, cosine and norms', () => {
    const r = conflictReport({ base, ours, theirs });
    expect(r).toEqual({
      numel: 4,
      changedBoth: 0.5,
      oppositeSigns: 0.25,
      cosine: 0,
      normOurs: Math.SQRT2,
      normTheirs: Math.sqrt(6),
      normBase: 0,
    });
    expect(conflictReport({ base, ours, theirs: ours }).cosine).toBeCloseTo(1, 12);
    expect(conflictReport({ base, ours: base, theirs }).cosine).toBe(0);
  });
});

describe('mergeTensorWithPolicy', () => {
  const none = parseMergePolicy({});
  const ta = parseMergePolicy({ merge: { method: 'task_arithmetic', parameters: { weight: 1 } } });

  it('takes an unchanged tensor, a one-sided change, or an identical change without a method', () => {
    expect(mergeTensorWithPolicy({ policy: none, tensorName: 'w', shape: [4], base, models: [base, base] })).toEqual({
      kind: 'unchanged',
      values: base,
    });
    expect(mergeTensorWithPolicy({ policy: none, tensorName: 'w', shape: [4], base, models: [base, theirs] })).toEqual({
      kind: 'taken',
      index: 1,
      values: theirs,
    });
    expect(
      mergeTensorWithPolicy({ policy: none, tensorName: 'w', shape: [4], base, models: [ours, ours] }),
    ).toMatchObject({
      kind: 'taken',
      index: 0,
    });
  });

  it('reports a conflict when both changed and the policy names no method', () => {
    const r = mergeTensorWithPolicy({ policy: none, tensorName: 'w', shape: [4], base, models: [ours, theirs] });
    expect(r).toMatchObject({ kind: 'conflict', changed: [0, 1], report: { changedBoth: 0.5 } });
  });

  it('merges with the policy’s method', () => {
    const r = mergeTensorWithPolicy({ policy: ta, tensorName: 'w', shape: [4], base, models: [ours, theirs] });
    expect(r.kind).toBe('merged');
    if (r.kind === 'merged') {
      expect(Array.from(r.values)).toEqual([2, 0, 2, 0]);
      expect(r.method).toBe('task_arithmetic');
      expect(r.seed).toBe(0);
    }
  });
});
