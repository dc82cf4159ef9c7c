// `weft merge --tune` end to end on the digits fixtures: one task-arithmetic merge of ft_low and ft_high per
// lambda, scored by the gate's target suite (an evaluator running the digits MLP) with successive halving; the
// best is committed and the message records every setting and its score; the scores land in `weft eval`'s cache.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EVALUATOR } from '../support/digits-evaluator.js';
import { cleanupTemps, DIGITS, git, newRepo, weft } from './helpers.js';

afterAll(cleanupTemps);

// batch 270: round one scores all three settings on 270 examples, round two the best two on all 540, so the
// winner is the best on the whole test split (lambda 1: 0.9185; lambda 0.5: 0.9111; lambda −4: 0.6037).
const CONFIG = `[gate]
batch = 270
seed = 3

[[gate.suites]]
name = "digits"
command = "node eval/digits.mjs"
examples = 540
role = "target"
`;

function calls(repo: string): number {
  const log = join(repo, 'eval', 'calls.log');
  return existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).length : 0;
}

describe('weft merge --tune', () => {
  it('builds one merge per setting, keeps the best by successive halving and records the scores', () => {
    const repo = newRepo();
    mkdirSync(join(repo, 'eval'));
    mkdirSync(join(repo, '.weft'), { recursive: true });
    writeFileSync(join(repo, 'eval', 'digits.mjs'), EVALUATOR);
    copyFileSync(join(DIGITS, 'digits.npz'), join(repo, 'eval', 'digits.npz'));
    writeFileSync(join(repo, '.weft', 'config.toml'), CONFIG);
    writeFileSync(join(repo, '.gitignore'), 'eval/calls.log\n');
    copyFileSync(join(DIGITS, 'base.safetensors'), join(repo, 'm.safetensors'));
    git(repo, ['add', '.']);
    git(repo, ['commit', '-qm', 'base and evaluator']);
    git(repo, ['checkout', '-qb', 'a']);
    copyFileSync(join(DIGITS, 'ft_low.safetensors'), join(repo, 'm.safetensors'));
    git(repo, ['commit', '-qam', 'low digits']);
    git(repo, ['checkout', '-qb', 'b', 'main']);
    copyFileSync(join(DIGITS, 'ft_high.safetensors'), join(repo, 'm.safetensors'));
    git(repo, ['commit', '-qam', 'high digits']);
    git(repo, ['checkout', '-q', 'a']);
    const before = git(repo, ['rev-parse', 'HEAD']).stdout.trim();

    const bad = weft(repo, 'merge', 'b', '--method', 'task_arithmetic', '--tune', 'lambda=1');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('at least two');

    const r = weft(
      repo,
      'merge',
      'b',
      '--method',
      'task_arithmetic',
      '--param',
      'weight=1',
      '--tune',
      'lambda=-4,0.5,1.0',
      '--json',
    );
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as {
      commit: string;
      message: string;
      tuning: {
        winner: number;
        suites: string[];
        rounds: { examples: number; kept: number[] }[];
        settings: { value: number; commit: string; mean: number; examples: number }[];
      };
    };
    expect(result.tuning.suites).toEqual(['digits']);
    expect(result.tuning.rounds.map((x) => x.examples)).toEqual([270, 540]);
    expect(result.tuning.rounds[0]!.kept.sort()).toEqual([1, 2]);
    expect(result.tuning.winner).toBe(2);
    expect(result.tuning.settings.map((s) => s.examples)).toEqual([270, 540, 540]);
    expect(result.tuning.settings[2]!.mean).toBeCloseTo(0.9185185, 6);
    expect(result.tuning.settings[1]!.mean).toBeCloseTo(0.9111111, 6);
    // HEAD moved only once, to a merge of a and b whose message records what was tried.
    expect(git(repo, ['rev-parse', 'HEAD']).stdout.trim()).toBe(result.commit);
    expect(git(repo, ['rev-parse', 'HEAD^1', 'HEAD^2']).stdout.trim().split('\n')).toEqual([
      before,
      git(repo, ['rev-parse', 'b']).stdout.trim(),
    ]);
    const message = git(repo, ['log', '-1', '--format=%B']).stdout;
    expect(message).toContain('weft merge --tune lambda');
    expect(message).toMatch(/lambda=1: mean 0\.9185 over 540 examples \(chosen\)/);
    expect(message).toMatch(/lambda=0\.5: mean 0\.9111 over 540 examples/);
    expect(message).toMatch(/lambda=-4: mean 0\.\d+ over 270 examples/);
    expect(git(repo, ['status', '--porcelain']).stdout).toBe('');
    // The chosen candidate is the committed tree; its scores are in the cache `weft eval` reads.
    expect(git(repo, ['rev-parse', 'HEAD^{tree}']).stdout).toBe(
      git(repo, ['rev-parse', `${result.tuning.settings[2]!.commit}^{tree}`]).stdout,
    );
    const n = calls(repo);
    const ev = weft(repo, 'eval', 'HEAD', '--json');
    expect(ev.code, ev.stderr).toBe(0);
    const evaluated = JSON.parse(ev.stdout) as { suites: { mean: number; evaluatorCalls: number }[] };
    expect(evaluated.suites[0]!.evaluatorCalls).toBe(0);
    expect(evaluated.suites[0]!.mean).toBeCloseTo(0.9185185, 6);
    expect(calls(repo)).toBe(n);
  });
});
