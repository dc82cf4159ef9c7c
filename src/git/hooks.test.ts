// Hook installation and chaining, exercised by real `git push` runs to a local bare remote.

import { execFileSync } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import { CHAINED_HOOK_SUFFIX, HOOK_MARKER, installHook, resolveHooksDir } from './hooks.js';
import { git, makeTempDir, makeTempRepo } from './test-support/temp-repo.js';

/** A script that records its arguments and stdin to `log` and exits with `exitCode`. */
async function recorder(file: string, log: string, exitCode = 0): Promise<string> {
  await writeFile(file, `#!/bin/sh\n{ echo "args: $*"; cat; } > '${log}'\nexit ${exitCode}\n`);
  await chmod(file, 0o755);
  return file;
}

/** A repository with one commit and a bare remote `origin`; `push()` runs `git push`, returning its result. */
async function pushableRepo() {
  const repo = await makeTempRepo();
  const dir = path.dirname(repo);
  git(repo, ['commit', '-q', '--allow-empty', '-m', 'one']);
  const remote = path.join(dir, 'remote.git');
  git(dir, ['init', '-q', '--bare', remote]);
  git(repo, ['remote', 'add', 'origin', remote]);
  const weftLog = path.join(dir, 'weft.log');
  const command = `'${await recorder(path.join(dir, 'fake-weft'), weftLog)}' pre-push`;
  const push = () => {
    try {
      execFileSync('git', ['push', '-q', 'origin', 'main'], { cwd: repo, stdio: 'pipe' });
      return { ok: true };
    } catch {
      return { ok: false };
    }
  };
  const head = git(repo, ['rev-parse', 'HEAD']).trim();
  const expectedLog = `args: pre-push origin ${remote}\nrefs/heads/main ${head} refs/heads/main ${'0'.repeat(40)}\n`;
  return { repo, dir, remote, command, weftLog, push, expectedLog };
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

describe('resolveHooksDir', () => {
  it('is <git dir>/hooks, or core.hooksPath (relative to the top level) when set', async () => {
    const repo = await makeTempRepo();
    await mkdir(path.join(repo, 'sub'));
    expect(await resolveHooksDir(path.join(repo, 'sub'))).toBe(path.join(repo, '.git', 'hooks'));
    git(repo, ['config', 'core.hooksPath', '.githooks']);
    expect(await resolveHooksDir(path.join(repo, 'sub'))).toBe(path.join(repo, '.githooks'));
    const absolute = path.join(path.dirname(repo), 'shared-hooks');
    git(repo, ['config', 'core.hooksPath', absolute]);
    expect(await resolveHooksDir(repo)).toBe(absolute);
  });
});

describe('installHook', () => {
  it('installs a hook that git runs with its arguments and stdin', async () => {
    const { repo, command, weftLog, push, expectedLog } = await pushableRepo();
    const hooksDir = await resolveHooksDir(repo);
    const result = await installHook({ hooksDir, name: 'pre-push', command });
    expect(result).toEqual({ path: path.join(hooksDir, 'pre-push'), changed: true, chainedPath: undefined });
    expect((await readFile(result.path, 'utf8')).split('\n')[1]).toMatch(new RegExp(`^${HOOK_MARKER}`));
    expect((await stat(result.path)).mode & 0o777).toBe(0o755);
    expect(push().ok).toBe(true);
    expect(await readFile(weftLog, 'utf8')).toBe(expectedLog);
    expect(await installHook({ hooksDir, name: 'pre-push', command })).toEqual({ ...result, changed: false });
  });

  it('chains to an existing hook: it runs first with the same arguments and stdin', async () => {
    const { repo, dir, command, weftLog, push, expectedLog } = await pushableRepo();
    const hooksDir = await resolveHooksDir(repo);
    const theirLog = path.join(dir, 'theirs.log');
    const theirs = await recorder(path.join(hooksDir, 'pre-push'), theirLog);
    const theirText = await readFile(theirs, 'utf8');

    const result = await installHook({ hooksDir, name: 'pre-push', command });
    const chainedPath = path.join(hooksDir, `pre-push${CHAINED_HOOK_SUFFIX}`);
    expect(result).toEqual({ path: theirs, changed: true, chainedPath });
    expect(await readFile(chainedPath, 'utf8')).toBe(theirText);
    expect(push().ok).toBe(true);
    expect(await readFile(theirLog, 'utf8')).toBe(expectedLog.replace('args: pre-push ', 'args: '));
    expect(await readFile(weftLog, 'utf8')).toBe(expectedLog);

    // Idempotent: no second chaining; a new command rewrites only Weft's hook.
    expect(await installHook({ hooksDir, name: 'pre-push', command })).toEqual({ ...result, changed: false });
    const again = await installHook({ hooksDir, name: 'pre-push', command: `${command} --verbose` });
    expect(again).toEqual({ ...result, changed: true });
    const prePush = (await readdir(hooksDir)).filter((f) => f.startsWith('pre-push') && !f.endsWith('.sample'));
    expect(prePush.sort()).toEqual(['pre-push', 'pre-push.weft-chained']);
    expect(await readFile(chainedPath, 'utf8')).toBe(theirText);
  });

  it('fails the hook, without running Weft, when the chained hook fails', async () => {
    const { repo, dir, remote, command, weftLog, push } = await pushableRepo();
    const hooksDir = await resolveHooksDir(repo);
    await recorder(path.join(hooksDir, 'pre-push'), path.join(dir, 'theirs.log'), 3);
    await installHook({ hooksDir, name: 'pre-push', command });
    expect(push().ok).toBe(false);
    expect(await exists(weftLog)).toBe(false);
    expect(git(remote, ['for-each-ref'])).toBe('');
  });

  it('honours core.hooksPath, creating the directory', async () => {
    const { repo, command, weftLog, push, expectedLog } = await pushableRepo();
    git(repo, ['config', 'core.hooksPath', 'tools/hooks']);
    const hooksDir = await resolveHooksDir(repo);
    expect(hooksDir).toBe(path.join(repo, 'tools', 'hooks'));
    await installHook({ hooksDir, name: 'pre-push', command });
    expect(push().ok).toBe(true);
    expect(await readFile(weftLog, 'utf8')).toBe(expectedLog);
  });

  it('refuses to lose a hook when both a foreign hook and an older chained hook exist', async () => {
    const hooksDir = await makeTempDir();
    await writeFile(path.join(hooksDir, 'pre-push'), '#!/bin/sh\necho new\n');
    await writeFile(path.join(hooksDir, 'pre-push.weft-chained'), '#!/bin/sh\necho old\n');
    await expect(installHook({ hooksDir, name: 'pre-push', command: 'weft pre-push' })).rejects.toThrow(
      /merge them by hand/,
    );
    expect(await readFile(path.join(hooksDir, 'pre-push'), 'utf8')).toBe('#!/bin/sh\necho new\n');
    expect(await readdir(hooksDir)).toHaveLength(2);
  });

  it.each([
    ['a bad name', { name: '../evil', command: 'weft' }],
    ['a multi-line command', { name: 'pre-push', command: 'weft\nrm -rf /' }],
  ])('rejects %s with UsageError', async (_, options) => {
    await expect(installHook({ hooksDir: await makeTempDir(), ...options })).rejects.toThrow(UsageError);
  });
});
