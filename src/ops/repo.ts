// A Weft repository: the git work tree it lives in and the store under the common git dir (so linked worktrees
// share one store). Opening does not create anything.

import { join } from 'node:path';
import { resolveCommonDir, resolveGitDir, resolveTopLevel } from '../git/run-git.js';
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
export async function openRepo(options: { cwd: string }): Promise<Repo> {
  const [topLevel, gitDir, commonDir] = await Promise.all([
    resolveTopLevel(options.cwd),
    resolveGitDir(options.cwd),
    resolveCommonDir(options.cwd),
  ]);
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
