// The web UI's JSON routes, under `/api/repos/:owner/:name/` so that the hub's read guard (app.ts) covers them:
// the history of main with scores from the notes, and a version's per-tensor change. Proposals are the queue's.
// Must not be mounted without that guard: it checks no access itself.

import { join } from 'node:path';
import { Hono } from 'hono';
import { isValidRepoName, repoGitDir } from '../db.js';
import { COMMIT_ID, commitDiff, MAX_HISTORY_COMMITS, readHistory } from './repo-data.js';

export interface UiApiOptions {
  /** The hub's data folder: repositories under `repos/`, the diff cache under `ui-cache/`. */
  dataDir: string;
}

/**
 * `GET /api/repos/:owner/:name/history?limit=N` → `{ branch, commits, truncated }` (newest first) and
 * `GET /api/repos/:owner/:name/commits/:commit/diff` → the version's per-tensor change against its first parent.
 *
 * @example app.route('/', createUiApiRoutes({ dataDir: '/srv/weft' })); // behind the hub's read guard
 */
export function createUiApiRoutes(options: UiApiOptions): Hono {
  const app = new Hono();
  const gitDirOf = (owner: string, name: string) =>
    isValidRepoName(owner, name) ? repoGitDir(options.dataDir, owner, name) : undefined;

  app.get('/api/repos/:owner/:name/history', async (c) => {
    const { owner, name } = c.req.param();
    const gitDir = gitDirOf(owner, name);
    if (!gitDir) return c.json({ message: 'invalid repository name' }, 400);
    const raw = c.req.query('limit');
    const limit = raw === undefined ? 100 : Number(raw);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_HISTORY_COMMITS) {
      return c.json({ message: `limit: expected an integer from 1 to ${MAX_HISTORY_COMMITS}, got ${raw}` }, 400);
    }
    return c.json(await readHistory({ gitDir, limit }));
  });

  app.get('/api/repos/:owner/:name/commits/:commit/diff', async (c) => {
    const { owner, name, commit } = c.req.param();
    const gitDir = gitDirOf(owner, name);
    if (!gitDir) return c.json({ message: 'invalid repository name' }, 400);
    if (!COMMIT_ID.test(commit)) {
      return c.json({ message: `commit: expected 4 to 64 lowercase hex digits, got ${JSON.stringify(commit)}` }, 400);
    }
    const diff = await commitDiff({ gitDir, rev: commit, cacheDir: join(options.dataDir, 'ui-cache', owner, name) });
    if (!diff) return c.json({ message: `no commit ${commit} in ${owner}/${name}` }, 404);
    return c.json(diff);
  });

  return app;
}
