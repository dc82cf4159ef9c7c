// Merging models with real git on the PyTorch-trained digits fixtures: `git merge`, `git cherry-pick` and
// `git rebase` under a task-arithmetic policy give base + (ft_low − base) + (ft_high − base) and a model better
// than either contributor; different modules merge with no policy; a conflict is data that `weft resolve`
// settles without losing anything; a bad policy fails at once.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildSafetensors, cleanupTemps, DIGITS, git, newRepo, sha256File, weft } from './helpers.js';

afterAll(cleanupTemps);

type Tensors = Map<string, { shape: number[]; values: Float32Array }>;

function readF32(path: string): Tensors {
  const b = readFileSync(path);
  const n = Number(b.readBigUInt64LE(0));
  const header = JSON.parse(b.subarray(8, 8 + n).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const out: Tensors = new Map();
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const bytes = new Uint8Array(b.subarray(8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]));
    out.set(name, { shape: t.shape, values: new Float32Array(bytes.buffer) });
  }
  return out;
}

/** digits.npz's test split (a zip of stored .npy files). */
function testSplit(): { x: Uint8Array; y: BigInt64Array } {
  const b = readFileSync(join(DIGITS, 'digits.npz'));
  const arrays = new Map<string, Buffer>();
  for (let o = 0; b.readUInt32LE(o) === 0x04034b50; ) {
    const size = b.readUInt32LE(o + 18);
    const nameLen = b.readUInt16LE(o + 26);
    const extraLen = b.readUInt16LE(o + 28);
    const name = b.toString('latin1', o + 30, o + 30 + nameLen).replace(/\.npy$/, '');
    const data = b.subarray(o + 30 + nameLen + extraLen, o + 30 + nameLen + extraLen + size);
    const headerLen = data.readUInt16LE(8);
    arrays.set(name, data.subarray(10 + headerLen));
    o += 30 + nameLen + extraLen + size;
  }
  return {
    x: new Uint8Array(arrays.get('X_test')!),
    y: new BigInt64Array(new Uint8Array(arrays.get('y_test')!).buffer),
  };
}

/** Accuracy of the Linear-ReLU-Linear-ReLU-Linear classifier on the test split (input pixels / 16). */
function accuracy(w: Tensors): number {
  const { x, y } = testSplit();
  const linear = (v: Float32Array, name: string, relu: boolean) => {
    const weight = w.get(`${name}.weight`)!;
    const bias = w.get(`${name}.bias`)!.values;
    const [outN, inN] = weight.shape as [number, number];
    const out = new Float32Array(outN);
    for (let o = 0; o < outN; o++) {
      let s = bias[o]!;
      for (let i = 0; i < inN; i++) s += weight.values[o * inN + i]! * v[i]!;
      out[o] = relu && s < 0 ? 0 : s;
    }
    return out;
  };
  let right = 0;
  for (let i = 0; i < y.length; i++) {
    const input = Float32Array.from(x.subarray(i * 64, (i + 1) * 64), (p) => p / 16);
    const logits = linear(linear(linear(input, 'fc1', true), 'fc2', true), 'fc3', false);
    let best = 0;
    for (let k = 1; k < 10; k++) if (logits[k]! > logits[best]!) best = k;
    if (BigInt(best) === y[i]) right++;
  }
  return right / y.length;
}

/** base + (low − base) + (high − base), summed in float64 and rounded once. */
function taskArithmetic(): Tensors {
  const base = readF32(join(DIGITS, 'base.safetensors'));
  const low = readF32(join(DIGITS, 'ft_low.safetensors'));
  const high = readF32(join(DIGITS, 'ft_high.safetensors'));
  const out: Tensors = new Map();
  for (const [name, b] of base) {
    const l = low.get(name)!.values;
    const h = high.get(name)!.values;
    out.set(name, {
      shape: b.shape,
      values: Float32Array.from(b.values, (v, i) => v + (l[i]! - v + (h[i]! - v))),
    });
  }
  return out;
}

function maxDiff(a: Tensors, b: Tensors): number {
  let m = 0;
  for (const [name, t] of a) {
    const u = b.get(name)!.values;
    for (let i = 0; i < t.values.length; i++) m = Math.max(m, Math.abs(t.values[i]! - u[i]!));
  }
  return m;
}

const POLICY = '[merge]\nmethod = "task_arithmetic"\n[merge.parameters]\nweight = 1.0\n';

/** main holds base and the policy; branches a (ft_low) and b (ft_high) start from it. */
function contributors(policy: string | undefined): string {
  const repo = newRepo();
  if (policy !== undefined) {
    mkdirSync(join(repo, '.weft'), { recursive: true });
    writeFileSync(join(repo, '.weft', 'config.toml'), policy);
  }
  copyFileSync(join(DIGITS, 'base.safetensors'), join(repo, 'm.safetensors'));
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'base']);
  git(repo, ['checkout', '-qb', 'a']);
  copyFileSync(join(DIGITS, 'ft_low.safetensors'), join(repo, 'm.safetensors'));
  git(repo, ['commit', '-qam', 'low digits']);
  git(repo, ['checkout', '-q', 'main']);
  git(repo, ['checkout', '-qb', 'b']);
  copyFileSync(join(DIGITS, 'ft_high.safetensors'), join(repo, 'm.safetensors'));
  git(repo, ['commit', '-qam', 'high digits']);
  git(repo, ['checkout', '-q', 'main']);
  git(repo, ['merge', '-q', '--ff-only', 'a']);
  return repo;
}

describe('merging models', () => {
  it('git merge under a task_arithmetic policy gives base + Δlow + Δhigh, better than either contributor', () => {
    const repo = contributors(POLICY);
    const r = git(repo, ['merge', '--no-edit', 'b'], { allowFail: true });
    expect(r.code, r.stderr).toBe(0);
    const merged = readF32(join(repo, 'm.safetensors'));
    expect(maxDiff(merged, taskArithmetic())).toBeLessThan(1e-6);
    const acc = accuracy(merged);
    expect(acc).toBeGreaterThan(accuracy(readF32(join(DIGITS, 'ft_low.safetensors'))));
    expect(acc).toBeGreaterThan(accuracy(readF32(join(DIGITS, 'ft_high.safetensors'))));
    expect(acc).toBeGreaterThan(0.85);
    // The merge commit is an ordinary commit whose model checks out again from the store.
    git(repo, ['rm', '-q', '--cached', 'm.safetensors']);
    git(repo, ['reset', '-q', '--hard', 'HEAD']);
    expect(maxDiff(readF32(join(repo, 'm.safetensors')), merged)).toBe(0);
    expect(weft(repo, 'fsck').code).toBe(0);
  });

  it('cherry-pick and rebase go through the same driver and give the same model', () => {
    const repo = contributors(POLICY);
    git(repo, ['merge', '-q', '--no-edit', 'b']);
    const viaMerge = sha256File(join(repo, 'm.safetensors'));
    git(repo, ['checkout', '-qb', 'picked', 'a']);
    expect(git(repo, ['cherry-pick', 'b'], { allowFail: true }).code).toBe(0);
    expect(sha256File(join(repo, 'm.safetensors'))).toBe(viaMerge);
    git(repo, ['checkout', '-qb', 'rebased', 'b']);
    expect(git(repo, ['rebase', '-q', 'a'], { allowFail: true }).code).toBe(0);
    expect(sha256File(join(repo, 'm.safetensors'))).toBe(viaMerge);
  });

  it('changes to different modules merge with no policy at all', () => {
    const repo = newRepo();
    const base = readF32(join(DIGITS, 'base.safetensors'));
    const entries = [...base];
    const file = (change: string | undefined) =>
      buildSafetensors(
        entries.map(([name, t]) => ({ name, shape: t.shape })),
        (k, i) => {
          const [name, t] = entries[k]!;
          return t.values[i]! + (change !== undefined && name.startsWith(change) && i === 0 ? 1 : 0);
        },
      );
    mkdirSync(join(repo, '.weft'), { recursive: true });
    writeFileSync(
      join(repo, '.weft', 'config.toml'),
      '[modules.body]\nmatch = ["fc1.*", "fc2.*"]\n[modules.head]\nmatch = ["fc3.*"]\n',
    );
    writeFileSync(join(repo, 'm.safetensors'), file(undefined));
    git(repo, ['add', '-A']);
    git(repo, ['commit', '-qm', 'base']);
    git(repo, ['checkout', '-qb', 'head-owner']);
    writeFileSync(join(repo, 'm.safetensors'), file('fc3'));
    const status = JSON.parse(weft(repo, 'status', '--json').stdout) as { touchedModules: string[] };
    expect(status.touchedModules).toEqual(['head']);
    git(repo, ['commit', '-qam', 'head']);
    git(repo, ['checkout', '-q', 'main']);
    writeFileSync(join(repo, 'm.safetensors'), file('fc1'));
    git(repo, ['commit', '-qam', 'body']);
    expect(git(repo, ['merge', '--no-edit', 'head-owner'], { allowFail: true }).code).toBe(0);
    const merged = readF32(join(repo, 'm.safetensors'));
    expect(merged.get('fc1.weight')!.values[0]).toBe(Math.fround(base.get('fc1.weight')!.values[0]! + 1));
    expect(merged.get('fc3.weight')!.values[0]).toBe(Math.fround(base.get('fc3.weight')!.values[0]! + 1));
  });

  it('a conflict without a policy is data: status reports it, resolve settles it, nothing is lost', () => {
    const repo = contributors(undefined);
    const r = git(repo, ['merge', '--no-edit', 'b'], { allowFail: true });
    expect(r.code).not.toBe(0);
    // The work tree still holds a valid model (ours), never conflict markers.
    expect(sha256File(join(repo, 'm.safetensors'))).toBe(sha256File(join(DIGITS, 'ft_low.safetensors')));
    const status = JSON.parse(weft(repo, 'status', '--json').stdout) as {
      conflicts: { path: string; conflicts: { tensor: string; report?: { cosine: number; changedBoth: number } }[] }[];
    };
    expect(status.conflicts[0]!.path).toBe('m.safetensors');
    const tensors = status.conflicts[0]!.conflicts;
    expect(tensors.map((t) => t.tensor).sort()).toEqual([
      'fc1.bias',
      'fc1.weight',
      'fc2.bias',
      'fc2.weight',
      'fc3.bias',
      'fc3.weight',
    ]);
    expect(tensors[0]!.report!.changedBoth).toBeGreaterThan(0.5);
    expect(Math.abs(tensors[0]!.report!.cosine)).toBeLessThanOrEqual(1);
    expect(weft(repo, 'status').stdout).toMatch(/unmerged {2}m\.safetensors: 6 tensor/);
    // Settle some with a method, the rest with a side.
    let res = weft(repo, 'resolve', 'fc1.*', '--method', 'task_arithmetic', '--param', 'weight=1');
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/still conflicted/);
    res = weft(repo, 'resolve', '*', '--theirs');
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/merged model written/);
    const merged = readF32(join(repo, 'm.safetensors'));
    const expected = taskArithmetic();
    const high = readF32(join(DIGITS, 'ft_high.safetensors'));
    expect(maxDiff(new Map([['fc1.weight', merged.get('fc1.weight')!]]), expected)).toBeLessThan(1e-6);
    expect(merged.get('fc3.weight')!.values).toEqual(high.get('fc3.weight')!.values);
    git(repo, ['add', 'm.safetensors']);
    git(repo, ['commit', '-qm', 'merged by hand']);
    expect(weft(repo, 'fsck').code).toBe(0);
    for (const [rev, file] of [
      ['HEAD^1', 'ft_low'],
      ['HEAD^2', 'ft_high'],
      ['HEAD~2', 'base'],
    ] as const) {
      git(repo, ['checkout', '-q', rev, '--', 'm.safetensors']);
      expect(sha256File(join(repo, 'm.safetensors'))).toBe(sha256File(join(DIGITS, `${file}.safetensors`)));
    }
  });

  it('weft merge merges several branches at once with one method, recorded in one merge commit', () => {
    const repo = contributors(undefined);
    git(repo, ['reset', '-q', '--hard', 'HEAD~1']); // main back at base: a and b both branch from it
    git(repo, ['checkout', '-qb', 'docs']);
    writeFileSync(join(repo, 'NOTES.md'), 'notes\n');
    git(repo, ['add', 'NOTES.md']);
    git(repo, ['commit', '-qm', 'notes']);
    git(repo, ['checkout', '-q', 'main']);
    const r = weft(repo, 'merge', 'a', 'b', 'docs', '--method', 'task_arithmetic', '--param', 'weight=1');
    expect(r.code, r.stderr).toBe(0);
    expect(maxDiff(readF32(join(repo, 'm.safetensors')), taskArithmetic())).toBeLessThan(1e-6);
    expect(readFileSync(join(repo, 'NOTES.md'), 'utf8')).toBe('notes\n');
    expect(git(repo, ['rev-list', '--parents', '-n', '1', 'HEAD']).stdout.trim().split(' ')).toHaveLength(5);
    expect(git(repo, ['log', '-1', '--format=%B']).stdout).toMatch(
      /weft merge: method=task_arithmetic weight=1 seed=0/,
    );
    expect(git(repo, ['status', '--porcelain']).stdout.trim()).toBe('');
  });

  it('a bad policy fails at once with one line naming the key', () => {
    const repo = contributors('[merge]\nmethod = "tiess"\n');
    const r = git(repo, ['merge', '--no-edit', 'b'], { allowFail: true });
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/merge\.method = "tiess" is not a merge method/);
    const files = weft(
      repo,
      'merge-files',
      '--method',
      'ties',
      '--base',
      join(DIGITS, 'base.safetensors'),
      join(DIGITS, 'ft_low.safetensors'),
      '-o',
      join(repo, 'x.safetensors'),
      '--param',
      'density=2',
      '--param',
      'weight=1',
    );
    expect(files.code).toBe(2);
    expect(files.stderr.trim().split('\n')).toHaveLength(1);
    expect(files.stderr).toMatch(/density/);
  });
});
