// The gate end to end (issue 8): real git, the built CLI, and an evaluator written for this test that runs the
// digits MLP (Linear-ReLU-Linear-ReLU-Linear on digits.npz) on WEFT_MODEL and scores 1 per correct prediction.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digitsGate, EVALUATOR, readF32 } from '../support/digits-evaluator.js';
import { buildSafetensors, cleanupTemps, DIGITS, git, newRepo, weft } from './helpers.js';

afterAll(cleanupTemps);

const CONFIG = digitsGate(32);

/** Task arithmetic in float32: base + (ft_low − base) + (ft_high − base). */
function taskArithmetic(): Uint8Array {
  const base = readF32(join(DIGITS, 'base.safetensors'));
  const low = readF32(join(DIGITS, 'ft_low.safetensors'));
  const high = readF32(join(DIGITS, 'ft_high.safetensors'));
  const f = Math.fround;
  return buildSafetensors(
    base.map((t) => ({ name: t.name, shape: t.shape })),
    (k, i) => {
      const b = base[k]!.values[i]!;
      return f(f(b + f(low[k]!.values[i]! - b)) + f(high[k]!.values[i]! - b));
    },
  );
}

function commitModel(repo: string, bytes: Uint8Array | string, message: string): string {
  if (typeof bytes === 'string') copyFileSync(bytes, join(repo, 'model.safetensors'));
  else writeFileSync(join(repo, 'model.safetensors'), bytes);
  git(repo, ['add', 'model.safetensors']);
  git(repo, ['commit', '-qm', message]);
  git(repo, ['tag', message]);
  return git(repo, ['rev-parse', 'HEAD']).stdout.trim();
}

function calls(repo: string): number {
  const log = join(repo, 'eval', 'calls.log');
  return existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).length : 0;
}

function note(repo: string, rev: string): Record<string, unknown> {
  return JSON.parse(git(repo, ['notes', '--ref', 'weft', 'show', rev]).stdout) as Record<string, unknown>;
}

describe('weft gate on the digits models', () => {
  let repo: string;
  beforeAll(() => {
    repo = newRepo();
    mkdirSync(join(repo, 'eval'));
    mkdirSync(join(repo, '.weft'), { recursive: true });
    writeFileSync(join(repo, 'eval', 'digits.mjs'), EVALUATOR);
    copyFileSync(join(DIGITS, 'digits.npz'), join(repo, 'eval', 'digits.npz'));
    writeFileSync(join(repo, '.weft', 'config.toml'), CONFIG);
    writeFileSync(join(repo, '.gitignore'), 'eval/calls.log\n');
    git(repo, ['add', '.']);
    git(repo, ['commit', '-qm', 'evaluator']);
    commitModel(repo, join(DIGITS, 'base.safetensors'), 'base');
    commitModel(repo, join(DIGITS, 'ft_low.safetensors'), 'low');
    commitModel(repo, taskArithmetic(), 'merged');
    commitModel(repo, join(DIGITS, 'noisy.safetensors'), 'noisy');
  });

  it('accepts the task-arithmetic merge of ft_low and ft_high against ft_low', () => {
    const r = weft(repo, 'gate', 'merged', '--baseline', 'low', '--json');
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.decision).toBe('accept');
    expect(report.suites[0]).toMatchObject({ name: 'digits', decision: 'accept', available: 540 });
    expect(report.suites[0].lower).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/weft gate: digits: \d+\/540 examples/);
    const gates = note(repo, 'merged').gates as { decision: string; baseline: string }[];
    expect(gates.at(-1)).toMatchObject({ decision: 'accept', baseline: git(repo, ['rev-parse', 'low']).stdout.trim() });
    // the work tree still holds the checked-out version (noisy) and is clean
    expect(readFileSync(join(repo, 'model.safetensors'))).toEqual(readFileSync(join(DIGITS, 'noisy.safetensors')));
    expect(git(repo, ['status', '--porcelain']).stdout).toBe('');
  });

  it('rejects noisy against base using fewer than half of the 540 examples', () => {
    const r = weft(repo, 'gate', 'noisy', '--baseline', 'base', '--json');
    expect(r.code, r.stderr).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.decision).toBe('reject');
    expect(report.examplesUsed).toBeLessThan(270);
    expect((note(repo, 'noisy').gates as { decision: string }[]).at(-1)!.decision).toBe('reject');
    const text = weft(repo, 'gate', 'noisy', '--baseline', 'base');
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^REJECT: noisy/);
  });

  it('never scores a model twice: re-evaluating the baseline and re-gating cost no evaluator calls', () => {
    const first = weft(repo, 'eval', 'base', '--json');
    expect(first.code, first.stderr).toBe(0);
    const result = JSON.parse(first.stdout);
    expect(result.suites[0]).toMatchObject({ suite: 'digits', n: 540 });
    expect(result.suites[0].mean).toBeCloseTo(0.9074074, 6); // expected.json: base accuracy on all 540
    const before = calls(repo);
    const again = weft(repo, 'eval', 'base', '--json');
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).suites[0].evaluatorCalls).toBe(0);
    const gate = weft(repo, 'gate', 'noisy', '--baseline', 'base', '--json');
    expect(JSON.parse(gate.stdout).evaluatorCalls).toBe(0);
    expect(calls(repo)).toBe(before);
    const summary = (
      note(repo, 'base').eval as Record<string, { mean: number; n: number; lower: number; upper: number }>
    ).digits!;
    expect(summary.n).toBe(540);
    expect(summary.lower).toBeLessThan(summary.mean);
    expect(summary.upper).toBeGreaterThan(summary.mean);
  });

  it("runs only the touched modules' targets plus every guard", () => {
    const scoped = newRepo();
    mkdirSync(join(scoped, '.weft'));
    mkdirSync(join(scoped, 'eval'));
    writeFileSync(
      join(scoped, 'eval', 'ones.mjs'),
      "import { readFileSync } from 'node:fs';\n" +
        "for (const id of readFileSync(process.env.WEFT_EXAMPLES, 'utf8').split('\\n').filter(Boolean)) console.log(JSON.stringify({ id, score: 1 }));\n",
    );
    const suiteToml = (name: string, extra: string) =>
      `[[gate.suites]]\nname = "${name}"\ncommand = "node eval/ones.mjs"\nexamples = 8\n${extra}\n`;
    writeFileSync(
      join(scoped, '.weft', 'config.toml'),
      '[modules.head]\nmatch = ["head.*"]\n[modules.body]\nmatch = ["body.*"]\n[gate]\n' +
        suiteToml('head', 'modules = ["head"]') +
        suiteToml('body', 'modules = ["body"]') +
        suiteToml('guard', 'role = "guard"\ntolerance = 0.5\nmodules = ["body"]'),
    );
    git(scoped, ['add', '.']);
    git(scoped, ['commit', '-qm', 'config']);
    const tensors = [
      { name: 'body.w', shape: [4] },
      { name: 'head.w', shape: [4] },
    ];
    commitModel(
      scoped,
      buildSafetensors(tensors, (t, i) => t + i),
      'v1',
    );
    commitModel(
      scoped,
      buildSafetensors(tensors, (t, i) => (t === 1 ? 10 + i : i)),
      'v2',
    );
    const r = weft(scoped, 'gate', 'v2', '--json');
    expect(r.code, r.stderr).toBe(1); // equal scores: the head target cannot show an improvement
    const report = JSON.parse(r.stdout);
    expect(report.skipped).toEqual(['body']);
    expect(report.suites.map((s: { name: string }) => s.name)).toEqual(['head', 'guard']);
    expect(report.baseline.commit).toBe(git(scoped, ['rev-parse', 'v1']).stdout.trim());
  });

  it('a failing evaluator (crash, wrong ids) stops the gate with a clear error and records nothing', () => {
    const configPath = join(repo, '.weft', 'config.toml');
    const suite = (command: string) =>
      `[gate]\n[[gate.suites]]\nname = "boom"\ncommand = "${command}"\nexamples = 10\n`;
    try {
      writeFileSync(configPath, suite("node -e 'process.exit(3)'"));
      const crash = weft(repo, 'gate', 'low', '--baseline', 'base');
      expect(crash.code).toBe(2);
      expect(crash.stderr).toMatch(/suite boom, batch 1 .*exited with code 3/);
      writeFileSync(configPath, suite("node -e 'console.log(JSON.stringify({ id: 99, score: 1 }))'"));
      const wrong = weft(repo, 'gate', 'low', '--baseline', 'base');
      expect(wrong.code).toBe(2);
      expect(wrong.stderr).toMatch(/suite boom, batch 1 .*output line 1: id "99" was not asked for/);
      expect(git(repo, ['notes', '--ref', 'weft', 'show', 'low'], { allowFail: true }).code).not.toBe(0);
    } finally {
      writeFileSync(configPath, CONFIG);
    }
  });
});
