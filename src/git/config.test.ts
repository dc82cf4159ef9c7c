// getConfig / setConfig / unsetConfig against real git; global config is redirected to a temp file.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GitError } from '../errors.js';
import { getConfig, setConfig, unsetConfig } from './config.js';
import { git, makeTempDir, makeTempRepo } from './test-support/temp-repo.js';

describe('git config', () => {
  it('sets, gets and unsets repository values, exactly', async () => {
    const repo = await makeTempRepo();
    const cwd = repo;
    expect(await getConfig('filter.weft.process', { cwd })).toBeUndefined();
    await setConfig('filter.weft.process', 'weft filter-process', { cwd });
    expect(await getConfig('filter.weft.process', { cwd })).toBe('weft filter-process');
    expect(git(repo, ['config', '--get', 'filter.weft.process'])).toBe('weft filter-process\n');
    // Values keep leading/trailing spaces, quotes and newlines.
    const odd = '  two\nlines "quoted" # not a comment ';
    await setConfig('weft.odd', odd, { cwd });
    expect(await getConfig('weft.odd', { cwd })).toBe(odd);
    expect(await unsetConfig('weft.odd', { cwd })).toBe(true);
    expect(await unsetConfig('weft.odd', { cwd })).toBe(false);
    expect(await getConfig('weft.odd', { cwd })).toBeUndefined();
  });

  it('replaces every value of a multi-valued key', async () => {
    const repo = await makeTempRepo();
    git(repo, ['config', '--add', 'weft.multi', 'a']);
    git(repo, ['config', '--add', 'weft.multi', 'b']);
    expect(await getConfig('weft.multi', { cwd: repo })).toBe('b');
    await setConfig('weft.multi', 'c', { cwd: repo });
    expect(git(repo, ['config', '--get-all', 'weft.multi'])).toBe('c\n');
    git(repo, ['config', '--add', 'weft.multi', 'd']);
    expect(await unsetConfig('weft.multi', { cwd: repo })).toBe(true);
    expect(await getConfig('weft.multi', { cwd: repo })).toBeUndefined();
  });

  it('uses the global config when asked, and only then', async () => {
    const repo = await makeTempRepo();
    const globalFile = path.join(await makeTempDir(), 'gitconfig');
    const env = { GIT_CONFIG_GLOBAL: globalFile };
    await setConfig('weft.where', 'global', { cwd: repo, global: true, env });
    expect(await readFile(globalFile, 'utf8')).toContain('where = global');
    expect(await getConfig('weft.where', { cwd: repo, env })).toBeUndefined();
    expect(await getConfig('weft.where', { cwd: repo, global: true, env })).toBe('global');
    expect(await unsetConfig('weft.where', { cwd: repo, global: true, env })).toBe(true);
  });

  it('rejects invalid keys with GIT_FAILED and local config outside a repository with GIT_NOT_A_REPO', async () => {
    const repo = await makeTempRepo();
    await expect(getConfig('nosection', { cwd: repo })).rejects.toThrow(/invalid key "nosection"/);
    await expect(setConfig('bad key.x', 'v', { cwd: repo })).rejects.toMatchObject({ code: 'GIT_FAILED' });
    const outside = await makeTempDir();
    const error = await setConfig('weft.x', 'v', { cwd: outside }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GitError);
    expect((error as GitError).code).toBe('GIT_NOT_A_REPO');
  });
});
