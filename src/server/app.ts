// The hub's HTTP application (Hono): git smart HTTP through `git http-backend`, the Git LFS Batch API, health and
// a small JSON API, with authentication and per-repository roles on every route. Does not listen (see serve.ts)
// and does not run the merge queue (src/server/queue/).

import { Hono, type MiddlewareHandler } from 'hono';
import { runGit } from '../git/run-git.js';
import { ActionSigner, authenticate, type Caller } from './auth.js';
import { canAccess, countRepos, getRepo, type HubDatabase, isValidRepoName, listRepos, repoGitDir } from './db.js';
import { runGitHttpBackend } from './git-http.js';
import { DEFAULT_MAX_OBJECT_SIZE_BYTES, denied, handleLfsRequest, type LfsRepoRef } from './lfs-api.js';
import { FileLfsStore, type LfsObjectStore } from './lfs-store.js';
import type { HubLog } from './log.js';
import { withRepoLock } from './repo-lock.js';

/** A ref moved by a push: oldOid all zeros for a new ref, newOid all zeros for a deleted one. */
export interface RefUpdate {
  ref: string;
  oldOid: string;
  newOid: string;
}

export interface PushEvent {
  repo: { owner: string; name: string; gitDir: string };
  updates: RefUpdate[];
  user: string;
}

export interface HubHooks {
  /** Called after a push that changed refs, with the repository's push lock already released. */
  onPush?(event: PushEvent): void;
}

export type HubEnv = { Variables: { user: string | undefined } };
export type HubApp = Hono<HubEnv>;

export interface HubAppOptions {
  dataDir: string;
  db: HubDatabase;
  log: HubLog;
  hooks?: HubHooks;
  /** Routes added before the git/LFS catch-all (the merge queue's API, the web UI). */
  extraRoutes?: (app: HubApp) => void;
  /** Largest LFS object accepted, in bytes (default 5 GiB). */
  maxObjectSizeBytes?: number;
  /** Where LFS objects live (default: inside each bare repository, git-lfs layout). */
  storeFor?: (repo: { owner: string; name: string; gitDir: string }) => LfsObjectStore;
  /** The URL clients reach the hub at, for LFS hrefs (default: the scheme and host of each request). */
  publicUrl?: string;
  /** Reported by /healthz. */
  version?: string;
}

/** `/<owner>/<name>.git/<rest>`: the only shape of repository URL served. */
const REPO_URL = /^\/([^/]+)\/([^/]+)\.git\/(.*)$/;

/**
 * Builds the hub's HTTP application.
 *
 * @example
 * const app = createHubApp({ dataDir, db: openHubDatabase(join(dataDir, 'hub.db')), log: jsonLineLog(process.stderr) });
 * serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
 */
export function createHubApp(options: HubAppOptions): HubApp {
  const { dataDir, db, log } = options;
  const projectRoot = `${dataDir}/repos`;
  const signer = new ActionSigner();
  const storeFor =
    options.storeFor ?? ((repo: { gitDir: string }): LfsObjectStore => new FileLfsStore({ gitDir: repo.gitDir }));
  const lfsCtx = {
    db,
    signer,
    maxObjectSizeBytes: options.maxObjectSizeBytes ?? DEFAULT_MAX_OBJECT_SIZE_BYTES,
    storeFor: (r: LfsRepoRef) => storeFor({ owner: r.record.owner, name: r.record.name, gitDir: r.gitDir }),
  };
  const app: HubApp = new Hono<HubEnv>();
  const baseUrl = (req: Request) => options.publicUrl?.replace(/\/+$/, '') ?? new URL(req.url).origin;

  app.use('*', async (c, next) => {
    const start = performance.now();
    c.set('user', undefined);
    await next();
    log({
      level: c.res.status >= 500 ? 'error' : 'info',
      msg: 'request',
      method: c.req.method,
      // The path only: query strings may carry secrets in other deployments, and ours never need logging.
      path: new URL(c.req.url).pathname,
      status: c.res.status,
      ms: Math.round((performance.now() - start) * 10) / 10,
      user: c.get('user') ?? null,
    });
  });

  app.onError((error, c) => {
    log({ level: 'error', msg: 'unhandled error', path: new URL(c.req.url).pathname, error: String(error) });
    return c.json({ message: 'internal error' }, 500);
  });

  const callerOf = (c: { req: { header(name: string): string | undefined } }): Caller =>
    authenticate(db, c.req.header('authorization'));
  const userOf = (caller: Caller) => (caller.kind === 'user' ? caller.user : undefined);

  app.get('/healthz', (c) => c.json({ ok: true, version: options.version ?? '0.0.0', repos: countRepos(db) }));

  app.get('/api/repos', (c) => {
    const caller = callerOf(c);
    if (caller.kind === 'invalid') return c.json({ message: 'invalid token' }, 401, challenge());
    c.set('user', userOf(caller));
    return c.json(
      listRepos(db, { user: userOf(caller) }).map((r) => ({ owner: r.owner, name: r.name, public: r.anonymousRead })),
    );
  });

  // A repository's summary and everything below it (the merge queue's routes, the UI's data) need read access,
  // checked here once so that extra routes cannot forget it.
  const readAccess: MiddlewareHandler<HubEnv> = async (c, next) => {
    const caller = callerOf(c);
    if (caller.kind === 'invalid') return c.json({ message: 'invalid token' }, 401, challenge());
    c.set('user', userOf(caller));
    const { owner, name } = c.req.param() as { owner: string; name: string };
    const record = isValidRepoName(owner, name) ? getRepo(db, owner, name) : undefined;
    if (!record || !canAccess(db, { user: userOf(caller), repo: record, need: 'read' })) {
      if (caller.kind !== 'user') return c.json({ message: 'credentials needed' }, 401, challenge());
      return c.json({ message: 'repository not found' }, 404);
    }
    await next();
  };
  app.use('/api/repos/:owner/:name', readAccess);
  app.use('/api/repos/:owner/:name/*', readAccess);

  app.get('/api/repos/:owner/:name', async (c) => {
    const { owner, name } = c.req.param();
    const record = getRepo(db, owner, name)!; // readAccess found it
    const gitDir = repoGitDir(dataDir, owner, name);
    const head = await runGit(['symbolic-ref', '-q', 'HEAD'], { cwd: gitDir, allowedExitCodes: [0, 1] });
    const defaultBranch =
      head.stdout
        .toString()
        .trim()
        .replace(/^refs\/heads\//, '') || null;
    const commit = await runGit(['rev-parse', '-q', '--verify', 'HEAD^{commit}'], {
      cwd: gitDir,
      allowedExitCodes: [0, 1],
    });
    return c.json({
      owner,
      name,
      public: record.anonymousRead,
      defaultBranch,
      headCommit: commit.code === 0 ? commit.stdout.toString().trim() : null,
    });
  });

  options.extraRoutes?.(app);

  app.all('*', async (c) => {
    const url = new URL(c.req.url);
    const m = REPO_URL.exec(url.pathname);
    if (!m) return c.json({ message: 'not found' }, 404);
    const [, owner, name, rest] = m as unknown as [string, string, string, string];
    if (!isValidRepoName(owner, name)) return c.json({ message: 'invalid repository name' }, 400);
    const authorization = c.req.header('authorization');
    const isLfs = rest.startsWith('info/lfs/');
    // Signed action headers are checked by the LFS handler (they are not database tokens).
    const caller: Caller =
      isLfs && ActionSigner.isActionHeader(authorization) ? { kind: 'anonymous' } : authenticate(db, authorization);
    if (caller.kind === 'invalid') {
      return new Response(JSON.stringify({ message: 'invalid credentials' }), {
        status: 401,
        headers: { 'content-type': 'application/json', ...challenge() },
      });
    }
    const user = userOf(caller);
    c.set('user', user);
    const record = getRepo(db, owner, name);
    if (!record) return denied(caller, false, 'application/json');
    const gitDir = repoGitDir(dataDir, owner, name);

    if (isLfs) {
      return handleLfsRequest(
        { ctx: lfsCtx, repo: { record, gitDir }, caller, authorization, baseUrl: baseUrl(c.req.raw) },
        rest.slice('info/lfs/'.length),
        c.req.raw,
      );
    }

    let service: 'git-upload-pack' | 'git-receive-pack' | undefined;
    if (rest === 'info/refs' && c.req.method === 'GET') {
      const s = url.searchParams.get('service');
      if (s === 'git-upload-pack' || s === 'git-receive-pack') service = s;
      else return c.text('only the smart HTTP protocol is served (service=git-upload-pack|git-receive-pack)', 403);
    } else if ((rest === 'git-upload-pack' || rest === 'git-receive-pack') && c.req.method === 'POST') {
      service = rest;
    } else {
      return c.json({ message: 'not found' }, 404);
    }
    const need = service === 'git-receive-pack' ? 'write' : 'read';
    if (!canAccess(db, { user, repo: record, need })) {
      return denied(caller, canAccess(db, { user, repo: record, need: 'read' }), 'application/json');
    }

    const cgi = {
      projectRoot,
      pathInfo: `/${owner}/${name}.git/${rest}`,
      query: service && rest === 'info/refs' ? `service=${service}` : '',
      method: c.req.method,
      contentType: c.req.header('content-type'),
      contentLength: c.req.header('content-length'),
      contentEncoding: c.req.header('content-encoding'),
      gitProtocol: c.req.header('git-protocol'),
      remoteUser: user,
      remoteAddr: remoteAddress(c.env),
      body: c.req.raw.body,
    };

    if (rest !== 'git-receive-pack') {
      const r = await runGitHttpBackend(cgi);
      r.done.then((exit) => {
        if (exit.code !== 0) log({ level: 'warn', msg: 'git http-backend failed', path: url.pathname, ...exit });
      });
      return new Response(r.body, { status: r.status, headers: r.headers });
    }

    // A push: refs before and after, under the repository's lock, so concurrent pushes report only their own updates.
    return new Promise<Response>((resolve, reject) => {
      let answered = false;
      withRepoLock(gitDir, async () => {
        const before = await readRefs(gitDir);
        const r = await runGitHttpBackend(cgi);
        answered = true;
        resolve(new Response(r.body, { status: r.status, headers: r.headers }));
        const exit = await r.done;
        if (exit.code !== 0) log({ level: 'warn', msg: 'git http-backend failed', path: url.pathname, ...exit });
        const after = await readRefs(gitDir);
        return diffRefs(before, after);
      }).then(
        (updates) => {
          if (updates.length === 0 || !options.hooks?.onPush || user === undefined) return;
          try {
            options.hooks.onPush({ repo: { owner, name, gitDir }, updates, user });
          } catch (error) {
            log({ level: 'error', msg: 'onPush hook failed', repo: `${owner}/${name}`, error: String(error) });
          }
        },
        (error: unknown) => {
          if (!answered) reject(error);
          else log({ level: 'error', msg: 'push bookkeeping failed', repo: `${owner}/${name}`, error: String(error) });
        },
      );
    });
  });

  return app;
}

function challenge(): Record<string, string> {
  return { 'www-authenticate': 'Basic realm="weft", charset="UTF-8"' };
}

function remoteAddress(env: unknown): string | undefined {
  const incoming = (env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming;
  return incoming?.socket?.remoteAddress;
}

/** Every ref of a bare repository and the object it points at. */
export async function readRefs(gitDir: string): Promise<Map<string, string>> {
  const r = await runGit(['for-each-ref', '--format=%(objectname) %(refname)'], { cwd: gitDir });
  const out = new Map<string, string>();
  for (const line of r.stdout.toString('utf8').split('\n')) {
    const space = line.indexOf(' ');
    if (space > 0) out.set(line.slice(space + 1), line.slice(0, space));
  }
  return out;
}

/** The refs that differ between two snapshots, sorted by name. */
export function diffRefs(before: Map<string, string>, after: Map<string, string>): RefUpdate[] {
  const updates: RefUpdate[] = [];
  // All zeros, as long as the ids of this repository (40 hex digits for SHA-1, 64 for SHA-256).
  const zero = (sample: string) => '0'.repeat(sample.length);
  for (const [ref, newOid] of after) {
    const oldOid = before.get(ref);
    if (oldOid !== newOid) updates.push({ ref, oldOid: oldOid ?? zero(newOid), newOid });
  }
  for (const [ref, oldOid] of before) if (!after.has(ref)) updates.push({ ref, oldOid, newOid: zero(oldOid) });
  return updates.sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
}
