// Tests for sequential-suite.ts and run-gate.ts: decisions per role, exhaustion, the verdict, the loop's budget.

import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import { runSequentialGate } from './run-gate.js';
import { gateVerdict, SequentialSuite } from './sequential-suite.js';

const suite = (role: 'target' | 'guard', threshold: number, available = 10_000) =>
  new SequentialSuite({ name: 's', role, threshold, alpha: 0.05, scoreRange: [0, 1], available });

describe('SequentialSuite', () => {
  it('accepts a target whose lower end clears min_improvement', () => {
    const s = suite('target', 0);
    while (s.decide() === 'running') s.observe([1, 1, 0], [0, 1, 0]);
    expect(s.decision).toBe('accept');
    expect(s.summary().lower).toBeGreaterThan(0);
  });

  it('rejects a target that is conclusively below min_improvement', () => {
    const s = suite('target', 0.1);
    while (s.decide() === 'running') s.observe([1, 0], [1, 0]);
    expect(s.decision).toBe('reject');
    expect(s.summary().upper).toBeLessThan(0.1);
  });

  it('satisfies a guard above −tolerance and rejects one below it', () => {
    const ok = suite('guard', -0.05);
    while (ok.decide() === 'running') ok.observe([1, 0], [1, 0]);
    expect(ok.decision).toBe('accept');
    const bad = suite('guard', -0.05);
    while (bad.decide() === 'running') bad.observe([0, 0, 1], [1, 0, 1]);
    expect(bad.decision).toBe('reject');
  });

  it('is inconclusive when the examples run out, and takes nothing once decided', () => {
    const s = suite('target', 0, 4);
    s.observe([1, 0, 1, 0], [0, 1, 0, 1]);
    expect(s.decide()).toBe('inconclusive');
    expect(() => s.observe([1], [1])).toThrow(/already decided/);
    const t = suite('target', 0, 2);
    expect(() => t.observe([1, 1, 1], [0, 0, 0])).toThrow(UsageError);
    expect(t.finish()).toBe('inconclusive');
  });
});

describe('gateVerdict', () => {
  it('rejects on any rejection, accepts on all accepts, else running or inconclusive', () => {
    expect(gateVerdict(['accept', 'reject', 'running'])).toBe('reject');
    expect(gateVerdict(['accept', 'accept'])).toBe('accept');
    expect(gateVerdict(['accept', 'running'])).toBe('running');
    expect(gateVerdict(['accept', 'inconclusive'])).toBe('inconclusive');
  });
});

describe('runSequentialGate', () => {
  const ids = Array.from({ length: 1000 }, (_, i) => String(i));
  // The candidate is right on even ids, the baseline on ids divisible by 4: d = +1 on half of the even ids.
  const scorePairs = async (_: unknown, batch: readonly string[]) => ({
    candidate: batch.map((id) => (Number(id) % 2 === 0 ? 1 : 0)),
    baseline: batch.map((id) => (Number(id) % 4 === 0 ? 1 : 0)),
  });

  it('accepts, reporting examples used in whole batches, and calls back per batch', async () => {
    const seen: number[] = [];
    const out = await runSequentialGate({
      suites: [{ name: 'a', role: 'target', threshold: 0, scoreRange: [0, 1], ids }],
      alpha: 0.05,
      batch: 32,
      scorePairs,
      onBatch: (s) => seen.push(s.used),
    });
    expect(out.decision).toBe('accept');
    expect(out.examplesUsed % 32).toBe(0);
    expect(seen.at(-1)).toBe(out.examplesUsed);
    expect(out.suites[0]!.alpha).toBe(0.05);
  });

  it('splits alpha over suites, stops at the budget as inconclusive', async () => {
    const out = await runSequentialGate({
      suites: [
        { name: 'a', role: 'target', threshold: 0, scoreRange: [0, 1], ids },
        { name: 'b', role: 'guard', threshold: -0.1, scoreRange: [0, 1], ids },
      ],
      alpha: 0.05,
      batch: 10,
      budget: 25,
      scorePairs,
    });
    expect(out.decision).toBe('inconclusive');
    expect(out.examplesUsed).toBe(25);
    expect(out.suites.map((s) => [s.used, s.alpha])).toEqual([
      [15, 0.025],
      [10, 0.025],
    ]);
  });

  it('stops at the first rejection without scoring the other suites further', async () => {
    const calls: string[] = [];
    const out = await runSequentialGate({
      suites: [
        { name: 'bad', role: 'guard', threshold: 0, scoreRange: [0, 1], ids },
        { name: 'slow', role: 'target', threshold: 0, scoreRange: [0, 1], ids },
      ],
      alpha: 0.05,
      batch: 50,
      scorePairs: async (s, batch) => {
        calls.push(s.name);
        return s.name === 'bad'
          ? { candidate: batch.map(() => 0), baseline: batch.map(() => 1) }
          : { candidate: batch.map(() => 1), baseline: batch.map(() => 1) };
      },
    });
    expect(out.decision).toBe('reject');
    expect(out.suites[0]!.decision).toBe('reject');
    expect(calls[0]).toBe('bad');
    expect(calls.filter((c) => c === 'bad')).toHaveLength(1);
  });
});
