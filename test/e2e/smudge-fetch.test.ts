// Checkout of a fresh clone downloads the objects it lacks from the remote on demand (no `weft fetch` first),
// and WEFT_SKIP_SMUDGE=1 leaves the manifests in the work tree, like git-lfs's GIT_LFS_SKIP_SMUDGE.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildSafetensors, cleanupTemps, git, newRepo, sha256File, tempDir, weft } from './helpers.js';

afterAll(cleanupTemps);

function cloneWithWeft(remote: string): string {
  const dir = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', '--no-checkout', remote, dir]);
  git(dir, ['config', 'user.email', 'test@weft.invalid']);
  git(dir, ['config', 'user.name', 'Weft Test']);
  expect(weft(dir, 'init').code).toBe(0);
  return dir;
}

describe('smudge fetches on demand', () => {
  it('a fresh clone checks out byte-identical models from the remote, or leaves manifests when asked', () => {
    const repo = newRepo();
    const bytes = buildSafetensors(
      [
        { name: 'a', shape: [512, 600] },
        { name: 'b', shape: [16] },
      ],
      (t, i) => Math.cos(t * 31 + i * 0.01),
    );
    writeFileSync(join(repo, 'm.safetensors'), bytes);
    git(repo, ['add', '-A']);
    git(repo, ['commit', '-qm', 'model']);
    const v1 = join(tempDir(), 'v1.safetensors');
    writeFileSync(v1, bytes);
    const v2 = Uint8Array.from(bytes);
    v2[v2.length - 1]! ^= 1;
    writeFileSync(join(repo, 'm.safetensors'), v2);
    git(repo, ['commit', '-qam', 'v2']);
    const remote = join(tempDir(), 'remote.git');
    git(tempDir(), ['init', '-q', '--bare', remote]);
    git(repo, ['remote', 'add', 'origin', remote]);
    git(repo, ['push', '-q', 'origin', 'main']);

    const clone = cloneWithWeft(remote);
    const r = spawnSync('git', ['checkout', '-q', 'main'], { cwd: clone, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/downloaded \d+ object/);
    expect(sha256File(join(clone, 'm.safetensors'))).toBe(sha256File(join(repo, 'm.safetensors')));
    // Re-cleaning the checked-out file gives back the committed manifest: nothing looks modified.
    spawnSync('touch', [join(clone, 'm.safetensors')]);
    expect(git(clone, ['status', '--porcelain']).stdout).toBe('');
    git(clone, ['checkout', '-q', 'HEAD~1']);
    expect(sha256File(join(clone, 'm.safetensors'))).toBe(sha256File(v1));

    const skipped = cloneWithWeft(remote);
    const s = spawnSync('git', ['checkout', '-q', 'main'], {
      cwd: skipped,
      encoding: 'utf8',
      env: { ...process.env, WEFT_SKIP_SMUDGE: '1' },
    });
    expect(s.status, s.stderr).toBe(0);
    expect(readFileSync(join(skipped, 'm.safetensors'), 'utf8')).toMatch(/^weft 1 safetensors\n/);
    expect(weft(skipped, 'pull').code).toBe(0);
    expect(sha256File(join(skipped, 'm.safetensors'))).toBe(sha256File(join(repo, 'm.safetensors')));
  });
});
