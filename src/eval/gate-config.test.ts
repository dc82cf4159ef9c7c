// Tests for gate-config.ts: defaults, one CONFIG_INVALID per rule naming the key, id files, module scope.

import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import { matchesPattern, parseExampleIds, parseGateConfig, scopeSuites } from './gate-config.js';

const suite = { name: 'digits', command: 'node eval.mjs', examples: 540 };

function configError(doc: Record<string, unknown>): string {
  try {
    parseGateConfig(doc);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    expect((e as UsageError).code).toBe('CONFIG_INVALID');
    return (e as Error).message;
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('parseGateConfig', () => {
  it('is undefined without [gate] and fills defaults', () => {
    expect(parseGateConfig({})).toBeUndefined();
    expect(parseGateConfig({ gate: { suites: [suite] } })).toEqual({
      alpha: 0.05,
      batch: 32,
      seed: 0,
      budget: undefined,
      modules: {},
      suites: [
        {
          name: 'digits',
          command: 'node eval.mjs',
          examples: { count: 540 },
          scoreRange: [0, 1],
          role: 'target',
          minImprovement: 0,
          tolerance: 0,
          timeoutSeconds: 600,
          modules: [],
        },
      ],
    });
  });

  it('reads the issue example', () => {
    const config = parseGateConfig({
      modules: { math: { match: ['adapters.math.*'], method: 'ties' } },
      gate: {
        alpha: 0.01,
        batch: 16,
        seed: 5,
        budget: 2000,
        suites: [
          { ...suite, role: 'target', min_improvement: 0.01, score_range: [0, 1], modules: ['math'] },
          {
            name: 'regression',
            command: 'python3 x.py',
            examples: 'eval/ids.txt',
            role: 'guard',
            tolerance: 0.01,
            timeout: 30,
          },
        ],
      },
    })!;
    expect(config.modules).toEqual({ math: ['adapters.math.*'] });
    expect(config.suites[1]).toMatchObject({
      examples: { path: 'eval/ids.txt' },
      role: 'guard',
      tolerance: 0.01,
      timeoutSeconds: 30,
    });
    expect(config.suites[0]!.minImprovement).toBe(0.01);
  });

  it.each([
    [{ gate: 3 }, /gate must be a table/],
    [{ gate: { suites: [suite], extra: 1 } }, /gate\.extra is not a known key/],
    [{ gate: { alpha: 0.7, suites: [suite] } }, /gate\.alpha must be in/],
    [{ gate: { batch: 0, suites: [suite] } }, /gate\.batch must be an integer/],
    [{ gate: { seed: -1, suites: [suite] } }, /gate\.seed/],
    [{ gate: { budget: 1.5, suites: [suite] } }, /gate\.budget/],
    [{ gate: { suites: [] } }, /gate\.suites must list/],
    [{ gate: { suites: [suite, suite] } }, /two suites named "digits"/],
    [{ gate: { suites: [{ ...suite, name: 'a b' }] } }, /gate\.suites\[0\]\.name/],
    [{ gate: { suites: [{ ...suite, command: ' ' }] } }, /\(digits\)\.command/],
    [{ gate: { suites: [{ ...suite, examples: 0 }] } }, /\(digits\)\.examples/],
    [{ gate: { suites: [{ ...suite, examples: '../ids' }] } }, /\(digits\)\.examples must be a path inside/],
    [{ gate: { suites: [{ ...suite, examples: true }] } }, /\(digits\)\.examples/],
    [{ gate: { suites: [{ ...suite, score_range: [1, 0] }] } }, /score_range must have lo < hi/],
    [{ gate: { suites: [{ ...suite, score_range: [0, 'x'] }] } }, /score_range must be a number/],
    [{ gate: { suites: [{ ...suite, role: 'judge' }] } }, /\.role must be/],
    [{ gate: { suites: [{ ...suite, tolerance: 0.1 }] } }, /\.tolerance applies to guards/],
    [{ gate: { suites: [{ ...suite, role: 'guard', min_improvement: 0 }] } }, /min_improvement applies to targets/],
    [{ gate: { suites: [{ ...suite, min_improvement: 2 }] } }, /min_improvement must be inside/],
    [{ gate: { suites: [{ ...suite, role: 'guard', tolerance: -1 }] } }, /\.tolerance must be in/],
    [{ gate: { suites: [{ ...suite, timeout: 0 }] } }, /\.timeout must be seconds/],
    [{ gate: { suites: [{ ...suite, modules: ['nope'] }] } }, /names module "nope"/],
    [{ gate: { suites: [{ ...suite, color: 'red' }] } }, /\(digits\)?.*color is not a known key|suites\[0\]\.color/],
    [{ modules: { m: { match: [] } }, gate: { suites: [suite] } }, /modules\.m\.match/],
  ])('rejects %j', (doc, message) => {
    expect(configError(doc as Record<string, unknown>)).toMatch(message);
  });
});

describe('parseExampleIds', () => {
  it('reads one id per line, trimmed, blank lines skipped', () => {
    expect(parseExampleIds({ text: ' a \n\nb\r\nc', path: 'ids.txt' })).toEqual(['a', 'b', 'c']);
  });
  it('names the line of a duplicate and refuses an empty file', () => {
    expect(() => parseExampleIds({ text: 'a\nb\na\n', path: 'ids.txt' })).toThrow(/ids\.txt: line 3: duplicate id "a"/);
    expect(() => parseExampleIds({ text: '\n\n', path: 'ids.txt' })).toThrow(/no example ids/);
  });
});

describe('module scope', () => {
  const config = parseGateConfig({
    modules: { math: { match: ['adapters.math.*'] }, code: { match: ['adapters.code.*'] } },
    gate: {
      suites: [
        { name: 'math', command: 'x', examples: 10, modules: ['math'] },
        { name: 'code', command: 'x', examples: 10, modules: ['code'] },
        { name: 'general', command: 'x', examples: 10 },
        { name: 'guard', command: 'x', examples: 10, role: 'guard', modules: ['code'] },
      ],
    },
  })!;
  const names = (changed: string[] | undefined) => scopeSuites({ config, changedTensors: changed }).map((s) => s.name);

  it('matches * across dots and ? as one character', () => {
    expect(matchesPattern('adapters.math.*', 'adapters.math.0.weight')).toBe(true);
    expect(matchesPattern('adapters.math.*', 'adapters.mathx')).toBe(false);
    expect(matchesPattern('layer.?.w', 'layer.3.w')).toBe(true);
    expect(matchesPattern('a+b', 'a+b')).toBe(true);
  });

  it("runs a touched module's targets, whole-model targets and every guard", () => {
    expect(names(['adapters.math.0.weight'])).toEqual(['math', 'general', 'guard']);
    expect(names(['adapters.math.w', 'adapters.code.w'])).toEqual(['math', 'code', 'general', 'guard']);
  });

  it('runs everything when a change is outside every module or not only tensors', () => {
    expect(names(['fc1.weight'])).toEqual(['math', 'code', 'general', 'guard']);
    expect(names(undefined)).toEqual(['math', 'code', 'general', 'guard']);
  });
});
