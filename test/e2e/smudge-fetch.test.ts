// Checkout of a fresh clone downloads the objects it lacks from the remote on demand (no `weft fetch` first),
// and WEFT_SKIP_SMUDGE=1 leaves the manifests in the work tree, like git-lfs's GIT_LFS_SKIP_SMUDGE.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
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

  it('a checkout of several files delays each one while its objects download, so the downloads overlap', () => {
    const repo = newRepo();
    const names = ['a', 'b', 'c'];
    for (const [k, name] of names.entries()) {
      const bytes = buildSafetensors([{ name: 'w', shape: [256, 300] }], (t, i) => Math.sin((t + k) * 7 + i * 0.013));
      writeFileSync(join(repo, `${name}.safetensors`), bytes);
    }
    git(repo, ['add', '-A']);
    git(repo, ['commit', '-qm', 'three models']);
    const remote = join(tempDir(), 'remote.git');
    git(tempDir(), ['init', '-q', '--bare', remote]);
    git(repo, ['remote', 'add', 'origin', remote]);
    git(repo, ['push', '-q', 'origin', 'main']);

    const clone = cloneWithWeft(remote);
    // git's own packet trace (to a file: it holds the content packets too) shows the conversation.
    const trace = join(tempDir(), 'trace');
    const r = spawnSync('git', ['checkout', '-q', 'main'], {
      cwd: clone,
      encoding: 'utf8',
      env: { ...process.env, GIT_TRACE_PACKET: trace },
    });
    expect(r.status, r.stderr).toBe(0);
    // Each file answered "later", then collected from the ready list.
    const log = readFileSync(trace, 'latin1');
    expect(log.match(/git< status=delayed/g)?.length).toBe(names.length);
    expect(log).toMatch(/git> command=list_available_blobs/);
    for (const name of names) {
      expect(log).toMatch(new RegExp(`git< pathname=${name}\\.safetensors`));
      expect(sha256File(join(clone, `${name}.safetensors`))).toBe(sha256File(join(repo, `${name}.safetensors`)));
    }
    expect(git(clone, ['status', '--porcelain']).stdout).toBe('');
    // With the objects at hand nothing is delayed.
    const trace2 = join(tempDir(), 'trace2');
    for (const name of names) rmSync(join(clone, `${name}.safetensors`));
    const again = spawnSync('git', ['checkout', '-q', '--', '.'], {
      cwd: clone,
      encoding: 'utf8',
      env: { ...process.env, GIT_TRACE_PACKET: trace2 },
    });
    expect(again.status, again.stderr).toBe(0);
    const log2 = readFileSync(trace2, 'latin1');
    expect(log2).toMatch(/git> can-delay=1/);
    expect(log2).not.toMatch(/status=delayed/);
    for (const name of names) {
      expect(sha256File(join(clone, `${name}.safetensors`))).toBe(sha256File(join(repo, `${name}.safetensors`)));
    }
  });
});
