// Tests for the merge policy of .weft/config.toml: validation names the key (fast, before any tensor), rules
// are first-match, modules own tensors and override the top level, and the resolved parameters per tensor.

import { describe, expect, it } from 'vitest';
import { parseWeftConfig } from '../ops/weft-config.js';
import { moduleOf, parseMergePolicy, resolveTensorMerge } from './policy.js';

const policy = (toml: string) => parseMergePolicy(parseWeftConfig(toml, '.weft/config.toml'));

function rejects(toml: string, message: string): void {
  let error: unknown;
  try {
    policy(toml);
  } catch (e) {
    error = e;
  }
  expect(error).toMatchObject({ code: 'CONFIG_INVALID', message });
}

const ISSUE_EXAMPLE = `
[merge]
method = "ties"
seed = 0
[merge.parameters]
density = 0.5
weight = 1.0
[[merge.rules]]
match = "*.bias"
method = "linear"
`;

describe('parseMergePolicy', () => {
  it('reads the issue example and resolves per tensor', () => {
    const p = policy(ISSUE_EXAMPLE);
    expect(resolveTensorMerge(p, 'layers.0.weight')).toEqual({
      method: 'ties',
      params: {
        weight: 1,
        lambda: 1,
        normalize: true,
        int8_mask: false,
        density: 0.5,
        rescale: false,
        sign_vote: 'weighted',
      },
      seed: 0,
    });
    expect(resolveTensorMerge(p, 'layers.0.bias')).toEqual({
      method: 'linear',
      params: { weight: 1, normalize: true },
      seed: 0,
    });
  });

  it('an empty document is a policy with no method: every both-sides change is a conflict', () => {
    expect(resolveTensorMerge(parseMergePolicy({}), 'w')).toBeUndefined();
    const p = policy(
      '[merge]\nmethod = "linear"\n[merge.parameters]\nweight = 1\n[[merge.rules]]\nmatch = "head.*"\nmethod = "conflict"\n',
    );
    expect(resolveTensorMerge(p, 'head.weight')).toBeUndefined();
    expect(resolveTensorMerge(p, 'body.weight')?.method).toBe('linear');
  });

  it('names the bad key, with suggestions', () => {
    rejects(
      '[merge]\nmethod = "tiess"\n',
      '.weft/config.toml: merge.method = "tiess" is not a merge method (did you mean "ties"?)',
    );
    rejects(
      '[merge]\nmethod = "ties"\n[merge.parameters]\nweight = 1\ndensity = 2\n',
      '.weft/config.toml: merge.parameters.density = 2 is outside (0, 1]',
    );
    rejects(
      '[merge]\nmethod = "ties"\n[merge.parameters]\nweight = 1\ndensty = 0.5\n',
      '.weft/config.toml: merge.parameters.densty is not a merge parameter (did you mean "density"?)',
    );
    rejects('[merge]\nmethd = "ties"\n', '.weft/config.toml: merge.methd is not a known key (did you mean "method"?)');
    rejects(
      '[merge]\nmethod = "linear"\n[merge.parameters]\nweight = 1\ngamma = 0.1\n',
      '.weft/config.toml: merge.parameters.gamma is not a parameter of linear',
    );
    rejects(
      '[merge]\nmethod = "ties"\n',
      '.weft/config.toml: merge.method = "ties" needs parameter weight (add weight to the parameters)',
    );
    rejects(
      '[merge]\nmethod = "slerp"\n',
      '.weft/config.toml: merge.method = "slerp" merges a single model; merging two sides needs a method that takes two or more',
    );
    rejects('[merge]\nseed = -1\n', '.weft/config.toml: merge.seed = -1 must be a non-negative integer');
    rejects(
      '[merge]\nmethod = "ties"\n[merge.parameters]\nweight = 1\ndensity = [0.5, 1.5]\n',
      '.weft/config.toml: merge.parameters.density[1] = 1.5 is outside (0, 1]',
    );
    rejects(
      '[merge]\nmethod = "linear"\n[merge.parameters]\nweight = 1\n[[merge.rules]]\nmethod = "ties"\n',
      '.weft/config.toml: merge.rules[0].match is missing',
    );
    rejects(
      '[modules.vision]\nowners = ["a"]\n',
      '.weft/config.toml: modules.vision.match is missing (a list of tensor-name globs)',
    );
    rejects(
      '[modules.vision]\nmatch = []\n',
      '.weft/config.toml: modules.vision.match = [] must be a glob or a non-empty list of globs',
    );
  });

  it('validates in well under a millisecond per rule', () => {
    const rules = Array.from(
      { length: 500 },
      (_, i) => `[[merge.rules]]\nmatch = "layers.${i}.*"\nmethod = "linear"\n`,
    ).join('');
    const doc = parseWeftConfig(`[merge]\nmethod = "ties"\n[merge.parameters]\nweight = 1\n${rules}`, 'c');
    const start = performance.now();
    parseMergePolicy(doc);
    expect(performance.now() - start).toBeLessThan(200);
  });
});

describe('modules', () => {
  const p = policy(`
[merge]
method = "task_arithmetic"
[merge.parameters]
weight = 1.0
density = 0.7
[[merge.rules]]
match = "*.bias"
method = "linear"

[modules.vision]
match = ["vision.*", "projector.*"]
owners = ["alice"]
[modules.vision.merge]
method = "ties"
[modules.vision.merge.parameters]
density = [{ filter = "attn", value = 0.2 }]
[[modules.vision.merge.rules]]
match = "vision.head.*"
method = "conflict"

[modules.text]
match = ["text.*"]
`);

  it('places tensors in the first matching module', () => {
    expect(moduleOf(p, 'vision.0.attn.weight')?.name).toBe('vision');
    expect(moduleOf(p, 'projector.weight')?.owners).toEqual(['alice']);
    expect(moduleOf(p, 'text.0.weight')?.name).toBe('text');
    expect(moduleOf(p, 'lm_head.weight')).toBeUndefined();
  });

  it('module settings take precedence over the top level', () => {
    const attn = resolveTensorMerge(p, 'vision.0.attn.weight')!;
    expect(attn.method).toBe('ties');
    expect(attn.module).toBe('vision');
    expect(attn.params.density).toBe(0.2);
    expect(attn.params.weight).toBe(1);
    // the module's rule list does not match: the top-level density applies
    expect(resolveTensorMerge(p, 'vision.0.mlp.weight')!.params.density).toBe(0.7);
    // the module's section method beats the top-level rule for biases
    expect(resolveTensorMerge(p, 'vision.0.mlp.bias')!.method).toBe('ties');
    expect(resolveTensorMerge(p, 'vision.head.weight')).toBeUndefined();
    // a module without its own merge section inherits the top level
    expect(resolveTensorMerge(p, 'text.0.bias')).toMatchObject({ method: 'linear', module: 'text' });
    expect(resolveTensorMerge(p, 'text.0.weight')!.method).toBe('task_arithmetic');
  });

  it('reads gradients at the tensor’s layer when the layer count is given', () => {
    const g = policy('[merge]\nmethod = "ties"\n[merge.parameters]\nweight = 1\ndensity = [0.2, 1.0]\n');
    expect(resolveTensorMerge(g, 'layers.2.w', { layerCount: 5 })!.params.density).toBeCloseTo(0.6, 12);
    expect(resolveTensorMerge(g, 'embed.w', { layerCount: 5 })!.params.density).toBe(0.2);
  });
});
