// `weft init`: configures git to run this Weft installation as the filter, merge driver, diff driver and
// pre-push hook of a repository (or of the user, with `global`). Idempotent; chains existing hooks.

import { mkdir } from 'node:fs/promises';
import { getConfig, setConfig } from '../git/config.js';
import { installHook, resolveHooksDir } from '../git/hooks.js';
import { openRepo } from './repo.js';

export interface InitOptions {
  cwd: string;
  /** The shell command line that runs this Weft (e.g. `/usr/bin/node /opt/weft/dist/cli/main.js`). */
  selfCommand: string;
  /**
   * The filter client git runs instead of starting the filter itself (native/weft_filter_client.c: hands git's
   * pipes to a warm filter process), shell-quoted; the filter runs through it when given.
   */
  filterClient?: string;
  /** Configure the user's global git config instead of the repository (no hook, no store). */
  global?: boolean;
}

export interface InitResult {
  scope: 'local' | 'global';
  /** Config keys whose value changed. */
  changedKeys: string[];
  hook?: { path: string; changed: boolean; chainedPath: string | undefined };
  storeDir?: string;
}

/** The git config Weft needs, for a given command line. */
export function weftGitConfig(selfCommand: string, filterClient?: string): [string, string][] {
  return [
    ['filter.weft.process', `${filterClient ? `${filterClient} ` : ''}${selfCommand} filter-process`],
    ['filter.weft.required', 'true'],
    ['merge.weft.name', 'Weft model merge'],
    ['merge.weft.driver', `${selfCommand} merge-driver %O %A %B %P`],
    // Criss-cross merges: git merges the several merge bases with this driver first; it averages them.
    ['merge.weft.recursive', 'weft-base'],
    ['merge.weft-base.name', 'Weft virtual merge base (average of the merge bases)'],
    ['merge.weft-base.driver', `${selfCommand} merge-driver --recursive %O %A %B %P`],
    ['diff.weft.textconv', `${selfCommand} show-manifest`],
    // git hands textconv the smudged file; caching (in git notes) spares re-hashing unchanged blobs.
    ['diff.weft.cachetextconv', 'true'],
  ];
}

/**
 * Configures a repository (or the user) for Weft.
 * @example await initRepo({ cwd: '/repo', selfCommand: 'weft' });
 */
export async function initRepo(options: InitOptions): Promise<InitResult> {
  const global = options.global === true;
  const result: InitResult = { scope: global ? 'global' : 'local', changedKeys: [] };
  const repo = global ? undefined : await openRepo({ cwd: options.cwd });
  for (const [key, value] of weftGitConfig(options.selfCommand, options.filterClient)) {
    const cfg = { cwd: options.cwd, global };
    if ((await getConfig(key, cfg)) !== value) {
      await setConfig(key, value, cfg);
      result.changedKeys.push(key);
    }
  }
  if (repo) {
    result.hook = await installHook({
      hooksDir: await resolveHooksDir(repo.topLevel),
      name: 'pre-push',
      command: `${options.selfCommand} pre-push`,
    });
    await mkdir(repo.weftDir, { recursive: true });
    await repo.store.init();
    result.storeDir = repo.weftDir;
  }
  return result;
}
