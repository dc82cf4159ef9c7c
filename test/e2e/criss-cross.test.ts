// Criss-cross merges with real git: two branches that each merged the other leave two merge bases; git's ort
// strategy merges those bases into a virtual base through `merge.weft.recursive`, which averages tensors changed
// on both (issue 6.3: several merge bases use their average as the base) and never records a conflict.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSafetensors, cleanupTemps, git, newRepo, weft } from './helpers.js';

afterAll(cleanupTemps);

const TENSORS = [
  { name: 't', shape: [4] },
  { name: 'u', shape: [4] },
];

/** Values of a hand-built model: tensor t is `t(i)`, u is `u(i)`. */
function model(t: (i: number) => number, u: (i: number) => number = (i) => 100 + i): Uint8Array {
  return buildSafetensors(TENSORS, (k, i) => (k === 0 ? t(i) : u(i)));
}

function readTensor(path: string, name: string): number[] {
  const b = readFileSync(path);
  const n = Number(b.readBigUInt64LE(0));
  const h = JSON.parse(b.toString('utf8', 8, 8 + n)) as Record<string, { data_offsets: [number, number] }>;
  const t = h[name]!;
  return [...new Float32Array(new Uint8Array(b.subarray(8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1])).buffer)];
}

/**
 * base: t = i. x sets t = 10 + i, y sets t = 20 + i; x merges y keeping its own t (`-s ours`), y merges x's first
 * commit keeping its own; then x changes u. Merging x into y has two merge bases (x1, y1) that disagree on t.
 */
function crissCross(): string {
  const repo = newRepo();
  const file = join(repo, 'm.safetensors');
  writeFileSync(
    file,
    model((i) => i),
  );
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'base']);
  git(repo, ['checkout', '-qb', 'x']);
  writeFileSync(
    file,
    model((i) => 10 + i),
  );
  git(repo, ['commit', '-qam', 'x1']);
  git(repo, ['tag', 'x1']);
  git(repo, ['checkout', '-qb', 'y', 'main']);
  writeFileSync(
    file,
    model((i) => 20 + i),
  );
  git(repo, ['commit', '-qam', 'y1']);
  git(repo, ['tag', 'y1']);
  git(repo, ['checkout', '-q', 'x']);
  git(repo, ['merge', '-q', '-s', 'ours', '--no-edit', 'y1']);
  writeFileSync(
    file,
    model(
      (i) => 10 + i,
      (i) => 200 + i,
    ),
  );
  git(repo, ['commit', '-qam', 'x2: u']);
  git(repo, ['checkout', '-q', 'y']);
  git(repo, ['merge', '-q', '-s', 'ours', '--no-edit', 'x1']);
  const bases = git(repo, ['merge-base', '--all', 'x', 'y']).stdout.trim().split('\n');
  expect(bases).toHaveLength(2);
  return repo;
}

describe('criss-cross merges', () => {
  let repo: string;
  beforeAll(() => {
    repo = crissCross();
  });

  it('weft init configures a recursive driver for the virtual merge base', () => {
    expect(git(repo, ['config', 'merge.weft.recursive']).stdout.trim()).toBe('weft-base');
    expect(git(repo, ['config', 'merge.weft-base.driver']).stdout).toContain('merge-driver --recursive %O %A %B %P');
  });

  it('the two sides disagree on t against the averaged base: a conflict, not one side taken silently', () => {
    const r = git(repo, ['merge', '--no-edit', 'x'], { allowFail: true });
    expect(r.code, r.stdout + r.stderr).not.toBe(0);
    const status = JSON.parse(weft(repo, 'status', '--json').stdout) as {
      conflicts: { path: string; conflicts: { tensor: string }[] }[];
    };
    expect(status.conflicts.map((c) => c.conflicts.map((t) => t.tensor))).toEqual([['t']]);
    // The work tree holds ours (y's t), never the virtual base, and is a valid model.
    expect(readTensor(join(repo, 'm.safetensors'), 't')).toEqual([20, 21, 22, 23]);
  });

  it('a policy (in the work tree’s config) merges against the average of the merge bases', () => {
    // task_arithmetic with weight 1: base + (ours − base) + (theirs − base); the base is (x1 + y1) / 2 on t.
    git(repo, ['merge', '--abort']);
    mkdirSync(join(repo, '.weft'), { recursive: true });
    writeFileSync(
      join(repo, '.weft', 'config.toml'),
      '[merge]\nmethod = "task_arithmetic"\n[merge.parameters]\nweight = 1.0\n',
    );
    const r = git(repo, ['merge', '--no-edit', 'x'], { allowFail: true });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const m = join(repo, 'm.safetensors');
    // t: ours 20 + i, theirs 10 + i, base 15 + i → 15 + i + 5 − 5 = 15 + i. u: changed on x only → x's.
    expect(readTensor(m, 't')).toEqual([15, 16, 17, 18]);
    expect(readTensor(m, 'u')).toEqual([200, 201, 202, 203]);
    const stateDir = join(repo, '.git', 'weft-merge');
    expect(existsSync(stateDir) ? readdirSync(stateDir) : []).toEqual([]);
    expect(weft(repo, 'fsck').code).toBe(0);
  });
});
