// Test support: throwaway git repositories in real temp dirs, set up with git itself (not with the code under
// test). Tests only.

import { execFileSync } from 'node:child_process';
import { mkdtemp, realpath } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** A fresh temp dir (symlinks resolved, so paths compare equal to git's). */
export async function makeTempDir(prefix = 'weft-git-'): Promise<string> {
  return realpath(await mkdtemp(path.join(os.tmpdir(), prefix)));
}

/** Runs git synchronously for test set-up; returns stdout as text. Throws on failure. */
export function git(cwd: string, args: readonly string[], env: Record<string, string> = {}): string {
  return execFileSync('git', args, {
    cwd,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    stdio: 'pipe',
    maxBuffer: 1 << 30,
  });
}

/** Runs git synchronously for test set-up; returns stdout's exact bytes. Throws on failure. */
export function gitBytes(cwd: string, args: readonly string[]): Buffer {
  return execFileSync('git', args, { cwd, stdio: 'pipe', maxBuffer: 1 << 30 });
}

/** A new repository (branch main, a committer identity) in a fresh temp dir; returns its top directory. */
export async function makeTempRepo(): Promise<string> {
  const dir = path.join(await makeTempDir(), 'repo');
  execFileSync('git', ['init', '-q', '-b', 'main', dir]);
  git(dir, ['config', 'user.email', 'test@example.com']);
  git(dir, ['config', 'user.name', 'Weft Test']);
  return dir;
}
