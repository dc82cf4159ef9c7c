// Installing git hooks that run Weft, chained after whatever hook was there before. It must never overwrite or
// edit a hook it did not write (git-theta's overwriting broke git-lfs's hooks): it moves it aside and calls it.

import { randomUUID } from 'node:crypto';
import { chmod, lstat, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { runGit } from './run-git.js';

/** The line that marks a hook as Weft's own (safe to rewrite). */
export const HOOK_MARKER = '# weft-managed-hook';
/** Suffix of the moved-aside hook that Weft's hook runs first. */
export const CHAINED_HOOK_SUFFIX = '.weft-chained';

export interface InstallHookOptions {
  /** The hooks directory, from `resolveHooksDir` (it honours `core.hooksPath`); created if missing. */
  hooksDir: string;
  /** The hook's name, e.g. `pre-push`. */
  name: string;
  /**
   * What the hook runs: one simple shell command line (program and arguments, shell-quoted), to which the
   * hook's own arguments are appended, e.g. `weft pre-push`.
   */
  command: string;
}

export interface InstallHookResult {
  /** The hook's path. */
  path: string;
  /** Whether anything on disk changed. */
  changed: boolean;
  /** The previous hook, moved aside and run first, if there is one. */
  chainedPath: string | undefined;
}

/**
 * The directory git runs hooks from: `core.hooksPath` if set, else `<git dir>/hooks`; absolute.
 *
 * @example
 * const hooksDir = await resolveHooksDir(repo); // '/repo/.git/hooks'
 */
export async function resolveHooksDir(cwd: string): Promise<string> {
  const { stdout } = await runGit(['rev-parse', '--git-path', 'hooks'], { cwd });
  const relative = stdout.toString('utf8');
  return path.resolve(cwd, relative.endsWith('\n') ? relative.slice(0, -1) : relative);
}

/**
 * Installs hook `name` to run `command` with the hook's arguments and stdin. A hook already there that is not
 * Weft's is renamed to `<name>.weft-chained` and run first with the same arguments and stdin; if it fails,
 * the hook fails without running `command`. Idempotent: re-installing rewrites only Weft's own hook. Rejects
 * (UsageError) if a foreign hook and an older `.weft-chained` hook both exist, rather than lose either.
 *
 * @example
 * await installHook({ hooksDir: await resolveHooksDir(repo), name: 'pre-push', command: 'weft pre-push' });
 */
export async function installHook(options: InstallHookOptions): Promise<InstallHookResult> {
  const { hooksDir, name, command } = options;
  if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new UsageError('USAGE', `invalid hook name ${JSON.stringify(name)}`);
  if (/[\r\n]/.test(command) || command.trim() === '') {
    throw new UsageError('USAGE', `hook command must be one non-empty line, got ${JSON.stringify(command)}`);
  }
  const hookPath = path.join(hooksDir, name);
  const chainedPath = hookPath + CHAINED_HOOK_SUFFIX;
  const script = renderHook(name, command);
  await mkdir(hooksDir, { recursive: true });

  const existing = await lstat(hookPath).catch(ignoreMissing);
  const chained = await lstat(chainedPath).catch(ignoreMissing);
  const chainedResult = chained === undefined ? undefined : chainedPath;
  if (existing === undefined || (existing.isFile() && isWeftHook(await readFile(hookPath, 'utf8')))) {
    if (existing !== undefined && (await readFile(hookPath, 'utf8')) === script && (existing.mode & 0o111) !== 0) {
      return { path: hookPath, changed: false, chainedPath: chainedResult };
    }
    await writeAtomically(hookPath, script);
    return { path: hookPath, changed: true, chainedPath: chainedResult };
  }
  if (chained !== undefined) {
    throw new UsageError(
      'USAGE',
      `${hookPath} is not Weft's hook and ${chainedPath} already exists; merge them by hand, then re-run`,
    );
  }
  // Ours is written before theirs moves, so a failure never leaves the hook missing.
  const temp = await writeTemp(hookPath, script);
  try {
    await rename(hookPath, chainedPath);
    await rename(temp, hookPath);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  return { path: hookPath, changed: true, chainedPath };
}

function isWeftHook(text: string): boolean {
  return text.split('\n').some((line) => line.startsWith(HOOK_MARKER));
}

/**
 * The hook script: POSIX sh. With a chained hook, stdin (the refs being pushed) is read once into a variable
 * (the trailing "." keeps trailing newlines) and given to both.
 */
function renderHook(name: string, command: string): string {
  const chained = `${name}${CHAINED_HOOK_SUFFIX}`;
  return `#!/bin/sh
${HOOK_MARKER}: written by Weft, which rewrites it; the hook that was here before, if any, is
# ${chained} beside it: it runs first, with the same arguments and input, and must succeed.
chained="$(dirname -- "$0")/${chained}"
if [ -x "$chained" ]; then
  weft_stdin=$(cat; echo .)
  weft_stdin=\${weft_stdin%.}
  printf '%s' "$weft_stdin" | "$chained" "$@" || exit $?
  printf '%s' "$weft_stdin" | ${command} "$@"
  exit $?
fi
exec ${command} "$@"
`;
}

function ignoreMissing(error: NodeJS.ErrnoException): undefined {
  if (error.code === 'ENOENT') return undefined;
  throw error;
}

async function writeTemp(target: string, text: string): Promise<string> {
  const temp = `${target}.weft-tmp-${randomUUID()}`;
  await writeFile(temp, text, { mode: 0o755 });
  // Explicit: writeFile's mode is filtered by the umask.
  await chmod(temp, 0o755);
  return temp;
}

async function writeAtomically(target: string, text: string): Promise<void> {
  const temp = await writeTemp(target, text);
  try {
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
