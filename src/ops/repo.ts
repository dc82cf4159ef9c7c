// A Weft repository: the git work tree it lives in and the store under the common git dir (so linked worktrees
// share one store). Opening does not create anything.

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
