// runGit, repository look-ups and CatFileBatch against real git in temp repositories.

import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GitError } from '../errors.js';
import { CatFileBatch, resolveCommonDir, resolveGitDir, resolveTopLevel, runGit } from './run-git.js';
import { git, makeTempDir, makeTempRepo } from './test-support/temp-repo.js';

async function gitErrorOf(promise: Promise<unknown>): Promise<GitError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GitError);
  return error as GitError;
}

describe('runGit', () => {
  it('passes stdin and returns exact stdout bytes', async () => {
    const repo = await makeTempRepo();
    const bytes = Buffer.from([0, 1, 2, 255, 10]);
    const { stdout, code } = await runGit(['hash-object', '-w', '--stdin'], { cwd: repo, input: bytes });
    expect(code).toBe(0);
    const oid = stdout.toString().trim();
    expect((await runGit(['cat-file', 'blob', oid], { cwd: repo })).stdout.equals(bytes)).toBe(true);
  });

  it('returns allowed non-zero exits and passes the environment', async () => {
    const repo = await makeTempRepo();
    const result = await runGit(['config', '--get', 'no.such'], { cwd: repo, allowedExitCodes: [0, 1] });
    expect(result.code).toBe(1);
    const { stdout } = await runGit(['var', 'GIT_AUTHOR_IDENT'], { cwd: repo, env: { GIT_AUTHOR_NAME: 'Ada' } });
    expect(stdout.toString()).toMatch(/^Ada </);
  });

  it('rejects an unexpected exit with GIT_FAILED naming the command and git’s message', async () => {
    const repo = await makeTempRepo();
    const error = await gitErrorOf(runGit(['rev-parse', '--verify', 'nope'], { cwd: repo }));
    expect(error.code).toBe('GIT_FAILED');
    expect(error.message).toBe(
      `git rev-parse --verify nope failed in ${repo} (exit 128): fatal: Needed a single revision`,
    );
  });

  it('rejects a missing working directory with a clear GIT_FAILED', async () => {
    const missing = path.join(await makeTempDir(), 'gone');
    const error = await gitErrorOf(runGit(['status'], { cwd: missing }));
    expect(error.code).toBe('GIT_FAILED');
    expect(error.message).toBe(`git status: cannot start: ${missing} is not a directory`);
  });
});

describe('resolving repository paths', () => {
  it('finds the git dir, top level and common dir from a subdirectory', async () => {
    const repo = await makeTempRepo();
    await mkdir(path.join(repo, 'a', 'b'), { recursive: true });
    const sub = path.join(repo, 'a', 'b');
    expect(await resolveGitDir(sub)).toBe(path.join(repo, '.git'));
    expect(await resolveTopLevel(sub)).toBe(repo);
    expect(await resolveCommonDir(sub)).toBe(path.join(repo, '.git'));
  });

  it('shares the common dir across linked worktrees', async () => {
    const repo = await makeTempRepo();
    git(repo, ['commit', '-q', '--allow-empty', '-m', 'root']);
    const worktree = path.join(path.dirname(repo), 'wt');
    git(repo, ['worktree', 'add', '-q', worktree]);
    await mkdir(path.join(worktree, 'sub'));
    const sub = path.join(worktree, 'sub');
    expect(await resolveCommonDir(sub)).toBe(path.join(repo, '.git'));
    expect(await resolveGitDir(sub)).toBe(path.join(repo, '.git', 'worktrees', 'wt'));
    expect(await resolveTopLevel(sub)).toBe(worktree);
  });

  it('rejects outside a repository with GIT_NOT_A_REPO', async () => {
    const dir = await makeTempDir();
    for (const resolve of [resolveGitDir, resolveTopLevel, resolveCommonDir]) {
      const error = await gitErrorOf(resolve(dir));
      expect(error.code).toBe('GIT_NOT_A_REPO');
      expect(error.message).toMatch(/not a git repository/);
    }
  });

  it('rejects resolveTopLevel in a bare repository', async () => {
    const bare = path.join(await makeTempDir(), 'bare.git');
    git(path.dirname(bare), ['init', '-q', '--bare', bare]);
    expect(await resolveCommonDir(bare)).toBe(bare);
    const error = await gitErrorOf(resolveTopLevel(bare));
    expect(error.code).toBe('GIT_FAILED');
  });
});

describe('CatFileBatch', () => {
  it('reads objects by id and by revision, in order, and reports missing ones as undefined', async () => {
    const repo = await makeTempRepo();
    const big = Buffer.alloc(3 * 1024 * 1024 + 1, 7);
    await writeFile(path.join(repo, 'a.txt'), 'alpha\n');
    await writeFile(path.join(repo, 'big.bin'), big);
    await writeFile(path.join(repo, 'empty'), '');
    await writeFile(path.join(repo, 'name with spaces'), 'spaced');
    git(repo, ['add', '.']);
    git(repo, ['commit', '-q', '-m', 'one']);
    const head = git(repo, ['rev-parse', 'HEAD']).trim();

    const batch = new CatFileBatch({ cwd: repo });
    // Issued together: answers come back in order.
    const [a, bigObject, missing, empty, spaced, commit, noPath] = await Promise.all([
      batch.read('HEAD:a.txt'),
      batch.read('HEAD:big.bin'),
      batch.read('0000000000000000000000000000000000000001'),
      batch.read('HEAD:empty'),
      batch.read('HEAD:name with spaces'),
      batch.read(head),
      batch.read('HEAD:no/such/file'),
    ]);
    expect(a).toEqual({
      oid: git(repo, ['rev-parse', 'HEAD:a.txt']).trim(),
      type: 'blob',
      sizeBytes: 6,
      content: Buffer.from('alpha\n'),
    });
    expect(bigObject!.content.equals(big)).toBe(true);
    expect(missing).toBeUndefined();
    expect(empty!.sizeBytes).toBe(0);
    expect(spaced!.content.toString()).toBe('spaced');
    expect(commit!.type).toBe('commit');
    expect(commit!.content.toString()).toMatch(/^tree [0-9a-f]{40}\n/);
    expect(noPath).toBeUndefined();
    expect((await batch.read('HEAD'))!.oid).toBe(head);
    await batch.close();
    await batch.close();
    await expect(batch.read('HEAD')).rejects.toThrow(/after close/);
  });

  it('rejects names with newlines, and fails every read outside a repository', async () => {
    const repo = await makeTempRepo();
    const batch = new CatFileBatch({ cwd: repo });
    await expect(batch.read('a\nb')).rejects.toThrow(/invalid revision/);
    await batch.close();

    const dir = await makeTempDir();
    const outside = new CatFileBatch({ cwd: dir, env: { GIT_CEILING_DIRECTORIES: path.dirname(dir) } });
    const error = await gitErrorOf(outside.read('HEAD'));
    expect(error.code).toBe('GIT_NOT_A_REPO');
    expect((await gitErrorOf(outside.read('HEAD'))).code).toBe('GIT_NOT_A_REPO');
    await outside.close();
  });
});
