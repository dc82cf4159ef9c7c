// Reading and writing git configuration (`git config`), repository-local or global. It must not touch config
// files directly: git owns their syntax, locking and includes.

import { GitError } from '../errors.js';
import { runGit } from './run-git.js';

export interface ConfigOptions {
  /** A directory inside the repository (any directory will do with `global`). */
  cwd: string;
  /** Use the user's global config (`~/.gitconfig`) instead of the repository's. */
  global?: boolean;
  /** Extra environment for git (tests point `GIT_CONFIG_GLOBAL` at a temp file). */
  env?: Record<string, string | undefined>;
}

function scope(options: ConfigOptions): string[] {
  return options.global === true ? ['--global'] : ['--local'];
}

function runOptions(options: ConfigOptions, allowedExitCodes: number[]) {
  return options.env === undefined
    ? { cwd: options.cwd, allowedExitCodes }
    : { cwd: options.cwd, env: options.env, allowedExitCodes };
}

/**
 * The value of `key` (the last one if it has several), or `undefined` if it is not set. Rejects with GitError
 * `GIT_FAILED` on an invalid key or config file.
 *
 * @example
 * const driver = await getConfig('filter.weft.process', { cwd: repo }); // 'weft filter-process' | undefined
 */
export async function getConfig(key: string, options: ConfigOptions): Promise<string | undefined> {
  // -z: values may hold newlines.
  const args = ['config', ...scope(options), '-z', '--get', key];
  const result = await runGit(args, runOptions(options, [0, 1]));
  if (result.code === 1) {
    // Exit 1 is both "not set" (silent) and "invalid key" (with a message).
    if (result.stderr.trim() !== '') {
      throw new GitError('GIT_FAILED', `git config: invalid key ${JSON.stringify(key)}: ${result.stderr.trim()}`);
    }
    return undefined;
  }
  const value = result.stdout.toString('utf8');
  return value.endsWith('\0') ? value.slice(0, -1) : value;
}

/**
 * Sets `key` to `value`, replacing every existing value of it.
 *
 * @example
 * await setConfig('filter.weft.required', 'true', { cwd: repo });
 */
export async function setConfig(key: string, value: string, options: ConfigOptions): Promise<void> {
  await runGit(['config', ...scope(options), '--replace-all', key, value], runOptions(options, [0]));
}

/**
 * Removes every value of `key`; resolves whether there was one. Sections left empty stay (git's behaviour).
 *
 * @example
 * await unsetConfig('filter.weft.process', { cwd: repo }); // true
 */
export async function unsetConfig(key: string, options: ConfigOptions): Promise<boolean> {
  // Exit 5: the key was not set.
  const result = await runGit(['config', ...scope(options), '--unset-all', key], runOptions(options, [0, 5]));
  return result.code === 0;
}
