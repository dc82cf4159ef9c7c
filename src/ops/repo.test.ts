// Tests for finding a repository from its top level without git (findGitDirs, used by the filter process): the
// answer must be git's own (`git rev-parse`) for a plain repository, a linked worktree and a `.git` file, and
// there must be no answer wherever git must judge (GIT_DIR and friends, a subfolder, a damaged `.git`). And
// openBareRepo: a bare repository's objects where a remote keeps them (`lfs/objects`), nothing for other folders.

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ObjectId } from '../store/object-codec.js';
import { findGitDirs, openBareRepo, openRepo, openRepoAtTopLevel } from './repo.js';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'weft-repo-')));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function git(cwd: string, ...args: string[]): string {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

function gitsAnswer(cwd: string): { gitDir: string; commonDir: string } {
  const [gitDir, commonDir] = git(cwd, 'rev-parse', '--absolute-git-dir', '--git-common-dir').split('\n');
  return { gitDir: realpathSync(gitDir!), commonDir: realpathSync(resolve(cwd, commonDir!)) };
}

describe('findGitDirs', () => {
  const main = join(root, 'main');
  mkdirSync(main);
  git(main, 'init', '-q', '-b', 'main');
  git(main, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '--allow-empty', '-m', 'one');

  it("gives git's answer for a plain repository", async () => {
    expect(findGitDirs(main, {})).toEqual(gitsAnswer(main));
    const fast = await openRepoAtTopLevel({ cwd: main, env: {} });
    const slow = await openRepo({ cwd: main });
    expect({ ...fast, store: undefined, contentIndex: undefined, keyframes: undefined }).toEqual({
      ...slow,
      store: undefined,
      contentIndex: undefined,
      keyframes: undefined,
    });
  });

  it("gives git's answer for a linked worktree (a .git file, a commondir)", () => {
    const linked = join(root, 'linked');
    git(main, 'worktree', 'add', '-q', linked);
    const found = findGitDirs(linked, {});
    expect(found).toEqual(gitsAnswer(linked));
    expect(found?.commonDir).toBe(realpathSync(join(main, '.git')));
  });

  it('follows a relative gitdir in a .git file (as submodules have)', () => {
    const outer = join(root, 'outer');
    mkdirSync(join(outer, 'sub'), { recursive: true });
    git(outer, 'init', '-q', '--separate-git-dir', join(outer, 'modules-sub'), 'sub');
    const work = join(outer, 'sub');
    writeFileSync(join(work, '.git'), 'gitdir: ../modules-sub\n');
    expect(findGitDirs(work, {})).toEqual(gitsAnswer(work));
  });

  it('has no answer where git must judge', () => {
    expect(findGitDirs(main, { GIT_DIR: join(main, '.git') })).toBeUndefined();
    expect(findGitDirs(main, { GIT_WORK_TREE: main })).toBeUndefined();
    expect(findGitDirs(main, { GIT_COMMON_DIR: join(main, '.git') })).toBeUndefined();
    const sub = join(main, 'folder');
    mkdirSync(sub);
    expect(findGitDirs(sub, {})).toBeUndefined(); // not the top level: git knows where that is
    const odd = join(root, 'odd');
    mkdirSync(odd);
    writeFileSync(join(odd, '.git'), 'not a gitdir line\n');
    expect(findGitDirs(odd, {})).toBeUndefined();
    const headless = join(root, 'headless');
    mkdirSync(join(headless, '.git'), { recursive: true });
    expect(findGitDirs(headless, {})).toBeUndefined();
  });

  it('falls back to git when there is no answer (and git reports a folder outside any repository)', async () => {
    const sub = join(main, 'folder2');
    mkdirSync(sub);
    expect((await openRepoAtTopLevel({ cwd: sub, env: {} })).topLevel).toBe(main);
    const outside = mkdtempSync(join(tmpdir(), 'weft-norepo-'));
    try {
      await expect(openRepoAtTopLevel({ cwd: outside, env: { GIT_CEILING_DIRECTORIES: tmpdir() } })).rejects.toThrow();
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });
});

describe('openBareRepo', () => {
  it('opens a bare repository with its store at <git dir>/lfs, from the git dir or a folder in it', async () => {
    const bare = join(root, 'served.git');
    git(root, 'init', '-q', '--bare', bare);
    for (const cwd of [bare, join(bare, 'refs')]) {
      const repo = await openBareRepo({ cwd });
      expect(repo).toMatchObject({ topLevel: bare, gitDir: bare, commonDir: bare, weftDir: join(bare, 'weft') });
      expect(repo?.store.pathOf('ab'.repeat(32) as ObjectId)).toBe(
        join(bare, 'lfs', 'objects', 'ab', 'ab', 'ab'.repeat(32)),
      );
    }
  });

  it('has no answer in a work tree, its .git folder, or outside any repository', async () => {
    const work = join(root, 'work');
    mkdirSync(work);
    git(work, 'init', '-q');
    expect(await openBareRepo({ cwd: work })).toBeUndefined();
    expect(await openBareRepo({ cwd: join(work, '.git') })).toBeUndefined();
    const outside = mkdtempSync(join(tmpdir(), 'weft-norepo-'));
    try {
      expect(await openBareRepo({ cwd: outside })).toBeUndefined();
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });
});
