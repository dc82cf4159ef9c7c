// A Weft repository: the git work tree it lives in and the store under the common git dir (so linked worktrees
// share one store). Opening does not create anything.

import { readFileSync, realpathSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { resolveCommonDir, resolveGitDir, resolveTopLevel, runGit } from '../git/run-git.js';
import { ContentIndex } from '../store/content-index.js';
import { ObjectStore } from '../store/object-store.js';

export interface Repo {
  /** The work tree's top-level folder. */
  topLevel: string;
  /** This work tree's git dir (`.git`, or `.git/worktrees/<name>`). */
  gitDir: string;
  /** The git dir shared by all work trees. */
  commonDir: string;
  /** `<commonDir>/weft`: objects, content index, temp files. */
  weftDir: string;
  store: ObjectStore;
  contentIndex: ContentIndex;
  /** Keyframe overrides written by `weft repack` (`<weftDir>/repack/index/`): pass to decodeTensorBytes. */
  keyframes: ContentIndex;
}

/**
 * Finds the repository containing `cwd`. Throws GitError GIT_NOT_A_REPO outside one.
 * @example const repo = await openRepo({ cwd: process.cwd() });
 */
/**
 * The three paths from one `git rev-parse` (one process instead of three: every filter process starts with
 * this); undefined when git does not answer all three (outside a work tree), so the callers' errors apply.
 */
async function resolveAllAtOnce(cwd: string): Promise<[string, string, string] | undefined> {
  try {
    const { stdout } = await runGit(['rev-parse', '--show-toplevel', '--absolute-git-dir', '--git-common-dir'], {
      cwd,
    });
    const lines = stdout.toString('utf8').split('\n');
    if (lines.length !== 4 || lines[3] !== '' || lines.slice(0, 3).some((l) => l === '')) return undefined;
    return [resolve(cwd, lines[0]!), resolve(cwd, lines[1]!), resolve(cwd, lines[2]!)];
  } catch {
    return undefined;
  }
}

export async function openRepo(options: { cwd: string }): Promise<Repo> {
  const [topLevel, gitDir, commonDir] = (await resolveAllAtOnce(options.cwd)) ?? [
    ...(await Promise.all([resolveTopLevel(options.cwd), resolveGitDir(options.cwd), resolveCommonDir(options.cwd)])),
  ];
  return repoAt(topLevel, gitDir, commonDir);
}

/**
 * The repository whose work tree's top level is `cwd`, found without starting git when the layout is the plain
 * one (no GIT_DIR, GIT_WORK_TREE or GIT_COMMON_DIR in `env`, and a `.git` folder — or a `.git` file naming one,
 * as linked worktrees and submodules have — right in `cwd`, with a HEAD); otherwise as {@link openRepo}. For the
 * filter process, which git starts in the top level: `git rev-parse` there costs a process start before the
 * first byte of a clean can be read.
 * @example const repo = await openRepoAtTopLevel({ cwd: process.cwd(), env: process.env });
 */
export async function openRepoAtTopLevel(options: {
  cwd: string;
  env: Record<string, string | undefined>;
}): Promise<Repo> {
  const found = findGitDirs(options.cwd, options.env);
  return found ? repoAt(options.cwd, found.gitDir, found.commonDir) : openRepo({ cwd: options.cwd });
}

/** `cwd/.git`'s git dir and common dir (real paths, as `git rev-parse` gives them), or undefined when not plain. */
export function findGitDirs(
  cwd: string,
  env: Record<string, string | undefined>,
): { gitDir: string; commonDir: string } | undefined {
  if (env.GIT_DIR !== undefined || env.GIT_WORK_TREE !== undefined || env.GIT_COMMON_DIR !== undefined) return;
  try {
    const dotGit = join(cwd, '.git');
    let gitDir = dotGit;
    if (statSync(dotGit).isFile()) {
      const text = readFileSync(dotGit, 'utf8');
      const m = /^gitdir: (.+?)\r?\n?$/.exec(text);
      if (!m) return;
      gitDir = resolve(cwd, m[1]!);
    }
    if (!statSync(join(gitDir, 'HEAD')).isFile()) return;
    let commonDir = gitDir;
    try {
      commonDir = resolve(gitDir, readFileSync(join(gitDir, 'commondir'), 'utf8').replace(/\r?\n$/, ''));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return;
    }
    return { gitDir: realpathSync.native(gitDir), commonDir: realpathSync.native(commonDir) };
  } catch {
    return; // no .git here, or one git must judge: ask it
  }
}

/**
 * A bare repository as a remote holds Weft's objects: `<git dir>/lfs/objects/aa/bb/<oid>`, the layout of the hub,
 * of Weft's file remote and of git-lfs. Undefined when `cwd` is not in a bare repository. The store is for
 * reading (`weft fsck` on a server); nothing is created. `topLevel` is the git dir, where git commands run.
 * @example const repo = await openBareRepo({ cwd: '/srv/weft-hub/repos/alice/model.git' });
 */
export async function openBareRepo(options: { cwd: string }): Promise<Repo | undefined> {
  let lines: string[];
  try {
    const { stdout } = await runGit(['rev-parse', '--is-bare-repository', '--absolute-git-dir'], { cwd: options.cwd });
    lines = stdout.toString('utf8').split('\n');
  } catch {
    return undefined; // not a repository at all: the caller's own opening reports it
  }
  if (lines[0] !== 'true' || !lines[1]) return undefined;
  const gitDir = resolve(options.cwd, lines[1]);
  const weftDir = join(gitDir, 'weft');
  return {
    topLevel: gitDir,
    gitDir,
    commonDir: gitDir,
    weftDir,
    store: new ObjectStore(join(gitDir, 'lfs')),
    contentIndex: new ContentIndex(weftDir),
    keyframes: new ContentIndex(join(weftDir, 'repack')),
  };
}

function repoAt(topLevel: string, gitDir: string, commonDir: string): Repo {
  const weftDir = join(commonDir, 'weft');
  return {
    topLevel,
    gitDir,
    commonDir,
    weftDir,
    store: new ObjectStore(weftDir),
    contentIndex: new ContentIndex(weftDir),
    keyframes: new ContentIndex(join(weftDir, 'repack')),
  };
}
