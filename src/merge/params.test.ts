// Tests for parameter values: gradients over the layer index, {filter, value} rules (substring and glob),
// precedence per-model → per-module → top level → default, and value validation.

import { describe, expect, it } from 'vitest';
import {
  countLayers,
  filterMatches,
  globMatches,
  gradientAt,
  layerIndexOf,
  paramValueProblems,
  resolveParameters,
  suggestName,
  valueForTensor,
} from './params.js';

describe('layers and gradients', () => {
  it('finds the layer index and count from tensor names', () => {
    expect(layerIndexOf('model.layers.12.mlp.up_proj.weight')).toBe(12);
    expect(layerIndexOf('0.weight')).toBe(0);
    expect(layerIndexOf('model.embed_tokens.weight')).toBeUndefined();
    expect(layerIndexOf('fc2.weight')).toBeUndefined();
    expect(countLayers(['emb', 'layers.0.w', 'layers.11.w'])).toBe(12);
    expect(countLayers(['emb'])).toBe(0);
  });

  it('interpolates linearly between evenly spaced anchors', () => {
    expect(gradientAt([0, 1], 0.25)).toBe(0.25);
    expect(gradientAt([0, 1, 0], 0.5)).toBe(1);
    expect(gradientAt([0, 1, 0], 0.75)).toBe(0.5);
    expect(gradientAt([0.3], 0.9)).toBe(0.3);
    expect(gradientAt([0, 1], 1)).toBe(1);
  });

  it('reads gradients at t = layer / (layers − 1), t = 0 outside numbered layers', () => {
    expect(valueForTensor([0, 1], 'layers.1.w', 3)).toBe(0.5);
    expect(valueForTensor([0, 1], 'layers.2.w', 3)).toBe(1);
    expect(valueForTensor([0.2, 1], 'lm_head.weight', 3)).toBe(0.2);
  });
});

describe('filters', () => {
  it('matches absent, *, substrings and globs', () => {
    expect(filterMatches(undefined, 'a.b')).toBe(true);
    expect(filterMatches('*', 'a.b')).toBe(true);
    expect(filterMatches('mlp', 'layers.0.mlp.weight')).toBe(true);
    expect(filterMatches('attn', 'layers.0.mlp.weight')).toBe(false);
    expect(filterMatches('*.bias', 'layers.0.bias')).toBe(true);
    expect(filterMatches('*.bias', 'layers.0.bias.x')).toBe(false);
    expect(globMatches('layers.?.w', 'layers.3.w')).toBe(true);
    expect(globMatches('a+b', 'a+b')).toBe(true);
  });

  it('takes the first matching rule, falling through when none matches', () => {
    const rules = [{ filter: 'self_attn', value: 0.3 }, { filter: 'mlp', value: [0, 1] }, { value: 0.9 }];
    expect(valueForTensor(rules, 'layers.0.self_attn.q', 2)).toBe(0.3);
    expect(valueForTensor(rules, 'layers.1.mlp.up', 2)).toBe(1);
    expect(valueForTensor(rules, 'norm', 2)).toBe(0.9);
    expect(valueForTensor([{ filter: 'mlp', value: 1 }], 'norm', 2)).toBeUndefined();
  });
});

describe('resolveParameters', () => {
  it('applies precedence per-model → per-module → top level → default', () => {
    const levels = [{ weight: 2 }, { density: [{ filter: 'attn', value: 0.2 }] }, { density: 0.7, lambda: 3 }];
    expect(
      resolveParameters({
        tensorName: 'l.0.attn.q',
        layerCount: 1,
        names: ['weight', 'density', 'lambda', 'gamma'],
        levels,
        defaults: { gamma: 0.01, lambda: 1 },
      }),
    ).toEqual({ weight: 2, density: 0.2, lambda: 3, gamma: 0.01 });
    expect(resolveParameters({ tensorName: 'l.0.mlp', layerCount: 1, names: ['density'], levels })).toEqual({
      density: 0.7,
    });
  });
});

describe('value validation', () => {
  it('names the bad entry', () => {
    expect(paramValueProblems('density', 0.5)).toEqual([]);
    expect(paramValueProblems('density', 2)).toEqual([['', 'is outside (0, 1]']]);
    expect(paramValueProblems('density', [0.5, 2])).toEqual([['[1]', 'is outside (0, 1]']]);
    expect(paramValueProblems('density', [{ filter: 'x', value: 0 }])).toEqual([['[0].value', 'is outside (0, 1]']]);
    expect(paramValueProblems('normalize', [1, 2])).toEqual([['', 'cannot be a gradient (it is not a number)']]);
    expect(paramValueProblems('rescale', 'inverse_density')).toEqual([]);
    expect(paramValueProblems('rescale', true)).toEqual([]);
    expect(paramValueProblems('sign_vote', 'majority')[0]![1]).toMatch(/must be "weighted" or "unweighted"/);
    expect(paramValueProblems('max_iter', 2.5)).toEqual([['', 'must be an integer']]);
    expect(paramValueProblems('densty', 1)).toEqual([['', 'is not a merge parameter']]);
  });

  it('suggests near names', () => {
    expect(suggestName('tiess', ['ties', 'linear'])).toBe('ties');
    expect(suggestName('zzzzzz', ['ties'])).toBeUndefined();
  });
});
