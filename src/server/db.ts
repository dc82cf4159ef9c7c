// The hub's own state in one SQLite file (better-sqlite3, WAL): users, hashed tokens, repositories, grants.
// Schema changes are numbered migrations keyed on `PRAGMA user_version`. Never stores a token in plain text;
// tables prefixed `queue_` belong to the merge queue (src/server/queue/) and are not created here.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { UsageError } from '../errors.js';
import { runGit } from '../git/run-git.js';

export type HubDatabase = Database.Database;
export type Role = 'read' | 'write' | 'admin';

export const ROLES: readonly Role[] = ['read', 'write', 'admin'];
const ROLE_RANK: Record<Role, number> = { read: 1, write: 2, admin: 3 };

/** User and owner names: letters, digits, `.`, `_`, `-`, starting with a letter or digit (no `..`, no `/`). */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** Repository names: as NAME, and never ending in `.git` (the URL adds it) — blocks path traversal and lookalikes. */
const REPO_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;
/** Tokens carry this prefix so that logs scrubbers and secret scanners can recognise them. */
const TOKEN_PREFIX = 'weft_';
/** How long SQLite waits for another connection's write lock (queue worker, CLI admin commands) before failing. */
const BUSY_TIMEOUT_MS = 5000;
/** How stale a token's last-used time may get (bounds database writes to one per token per minute). */
const LAST_USED_RESOLUTION_MS = 60_000;

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE users (
     name TEXT PRIMARY KEY,
     created_at INTEGER NOT NULL
   );
   CREATE TABLE tokens (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     hash TEXT NOT NULL UNIQUE,
     user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
     label TEXT,
     created_at INTEGER NOT NULL,
     last_used_at INTEGER
   );
   CREATE TABLE repos (
     owner TEXT NOT NULL,
     name TEXT NOT NULL,
     anonymous_read INTEGER NOT NULL DEFAULT 0,
     created_at INTEGER NOT NULL,
     PRIMARY KEY (owner, name)
   );
   CREATE TABLE grants (
     user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
     owner TEXT NOT NULL,
     name TEXT NOT NULL,
     role TEXT NOT NULL CHECK (role IN ('read', 'write', 'admin')),
     PRIMARY KEY (user, owner, name),
     FOREIGN KEY (owner, name) REFERENCES repos(owner, name) ON DELETE CASCADE
   );`,
];

/**
 * Opens (creating if needed) the hub database and brings its schema up to date.
 *
 * @example
 * const db = openHubDatabase(join(dataDir, 'hub.db'));
 */
export function openHubDatabase(file: string): HubDatabase {
  mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  db.pragma('foreign_keys = ON');
  db.pragma('synchronous = NORMAL');
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    db.close();
    throw new UsageError(
      'CONFIG_INVALID',
      `${file}: hub database schema version ${version} is newer than this weft (${MIGRATIONS.length}); upgrade weft`,
    );
  }
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  return db;
}

/** Throws unless `name` is a valid user or owner name. */
export function checkUserName(name: string): void {
  if (!NAME.test(name) || name.includes('..')) {
    throw new UsageError('USAGE', `${JSON.stringify(name)}: not a valid name (letters, digits, . _ -; max 64)`);
  }
}

/** Throws unless `owner/name` is a valid repository (never `..`, never ending in .git, no slashes). */
export function checkRepoName(owner: string, name: string): void {
  checkUserName(owner);
  if (!REPO_NAME.test(name) || name.includes('..') || name.toLowerCase().endsWith('.git')) {
    throw new UsageError(
      'USAGE',
      `${JSON.stringify(name)}: not a valid repository name (letters, digits, . _ -; max 100; no .git suffix)`,
    );
  }
}

/** True when `owner/name` would pass {@link checkRepoName} (for request routing, which must not throw). */
export function isValidRepoName(owner: string, name: string): boolean {
  try {
    checkRepoName(owner, name);
    return true;
  } catch {
    return false;
  }
}

/** Parses `owner/name` (a trailing `.git` is accepted and dropped). */
export function parseRepoSpec(spec: string): { owner: string; name: string } {
  const m = /^([^/]+)\/([^/]+?)(?:\.git)?$/.exec(spec);
  if (!m) throw new UsageError('USAGE', `${JSON.stringify(spec)}: expected <owner>/<name>`);
  checkRepoName(m[1]!, m[2]!);
  return { owner: m[1]!, name: m[2]! };
}

/** Where a repository's bare git directory lives under the data dir. */
export function repoGitDir(dataDir: string, owner: string, name: string): string {
  checkRepoName(owner, name);
  return join(dataDir, 'repos', owner, `${name}.git`);
}

/**
 * Adds a user.
 *
 * @example
 * createUser(db, { name: 'alice' });
 */
export function createUser(db: HubDatabase, options: { name: string }): void {
  checkUserName(options.name);
  const r = db.prepare('INSERT OR IGNORE INTO users (name, created_at) VALUES (?, ?)').run(options.name, Date.now());
  if (r.changes === 0) throw new UsageError('USAGE', `user ${options.name} already exists`);
}

export function userExists(db: HubDatabase, name: string): boolean {
  return db.prepare('SELECT 1 FROM users WHERE name = ?').get(name) !== undefined;
}

export function listUsers(db: HubDatabase): { name: string; createdAt: number }[] {
  return db.prepare('SELECT name, created_at AS createdAt FROM users ORDER BY name').all() as {
    name: string;
    createdAt: number;
  }[];
}

function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Creates an access token for a user; returns the token in plain text — the only time it exists unhashed.
 *
 * @example
 * const { token } = createToken(db, { user: 'alice', label: 'laptop' });
 */
export function createToken(db: HubDatabase, options: { user: string; label?: string }): { id: number; token: string } {
  if (!userExists(db, options.user)) throw new UsageError('USAGE_NOT_FOUND', `no user ${options.user}`);
  const token = `${TOKEN_PREFIX}${randomBytes(24).toString('base64url')}`;
  const r = db
    .prepare('INSERT INTO tokens (hash, user, label, created_at) VALUES (?, ?, ?, ?)')
    .run(hashToken(token), options.user, options.label ?? null, Date.now());
  return { id: Number(r.lastInsertRowid), token };
}

/** The user a token belongs to, or undefined; records its last use. Compares hashes only. */
export function verifyToken(db: HubDatabase, token: string): string | undefined {
  if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return undefined;
  const hash = hashToken(token);
  const row = db.prepare('SELECT id, hash, user, last_used_at FROM tokens WHERE hash = ?').get(hash) as
    | { id: number; hash: string; user: string; last_used_at: number | null }
    | undefined;
  if (!row || !timingSafeEqual(Buffer.from(row.hash), Buffer.from(hash))) return undefined;
  const now = Date.now();
  // A write per request would contend with the merge queue for SQLite's lock: record use at most once a minute.
  if (row.last_used_at === null || now - row.last_used_at > LAST_USED_RESOLUTION_MS) {
    db.prepare('UPDATE tokens SET last_used_at = ? WHERE id = ?').run(now, row.id);
  }
  return row.user;
}

export function listTokens(
  db: HubDatabase,
  user: string,
): { id: number; label: string | null; createdAt: number; lastUsedAt: number | null }[] {
  return db
    .prepare(
      'SELECT id, label, created_at AS createdAt, last_used_at AS lastUsedAt FROM tokens WHERE user = ? ORDER BY id',
    )
    .all(user) as { id: number; label: string | null; createdAt: number; lastUsedAt: number | null }[];
}

export function revokeToken(db: HubDatabase, options: { user: string; id: number }): boolean {
  return db.prepare('DELETE FROM tokens WHERE id = ? AND user = ?').run(options.id, options.user).changes > 0;
}

export interface HubRepo {
  owner: string;
  name: string;
  anonymousRead: boolean;
  createdAt: number;
}

function rowToRepo(r: { owner: string; name: string; anonymous_read: number; created_at: number }): HubRepo {
  return { owner: r.owner, name: r.name, anonymousRead: r.anonymous_read === 1, createdAt: r.created_at };
}

/**
 * Registers a repository and creates its bare git directory (`git init --bare`, smart HTTP enabled, LFS object
 * folder), owned by `owner` (a user gets admin on it when one of that name exists).
 *
 * @example
 * await createRepo(db, { dataDir, owner: 'alice', name: 'digits', anonymousRead: true });
 */
export async function createRepo(
  db: HubDatabase,
  options: { dataDir: string; owner: string; name: string; anonymousRead?: boolean; defaultBranch?: string },
): Promise<HubRepo> {
  const { owner, name } = options;
  checkRepoName(owner, name);
  if (getRepo(db, owner, name)) throw new UsageError('USAGE', `repository ${owner}/${name} already exists`);
  const gitDir = repoGitDir(options.dataDir, owner, name);
  await mkdir(gitDir, { recursive: true });
  await runGit(['init', '--quiet', '--bare', `--initial-branch=${options.defaultBranch ?? 'main'}`, gitDir], {
    cwd: options.dataDir,
  });
  const config: [string, string][] = [
    ['http.receivepack', 'true'],
    ['http.uploadpack', 'true'],
    ['receive.fsckObjects', 'true'],
    ['receive.denyNonFastForwards', 'false'],
    ['uploadpack.allowFilter', 'true'],
    ['core.logAllRefUpdates', 'true'],
  ];
  for (const [k, v] of config) await runGit(['config', k, v], { cwd: gitDir });
  await mkdir(join(gitDir, 'lfs', 'objects'), { recursive: true });
  const now = Date.now();
  db.transaction(() => {
    db.prepare('INSERT INTO repos (owner, name, anonymous_read, created_at) VALUES (?, ?, ?, ?)').run(
      owner,
      name,
      options.anonymousRead ? 1 : 0,
      now,
    );
    if (userExists(db, owner)) {
      db.prepare('INSERT OR REPLACE INTO grants (user, owner, name, role) VALUES (?, ?, ?, ?)').run(
        owner,
        owner,
        name,
        'admin',
      );
    }
  })();
  return { owner, name, anonymousRead: options.anonymousRead === true, createdAt: now };
}

export function getRepo(db: HubDatabase, owner: string, name: string): HubRepo | undefined {
  const r = db.prepare('SELECT * FROM repos WHERE owner = ? AND name = ?').get(owner, name) as
    | { owner: string; name: string; anonymous_read: number; created_at: number }
    | undefined;
  return r ? rowToRepo(r) : undefined;
}

export function setAnonymousRead(db: HubDatabase, options: { owner: string; name: string; value: boolean }): void {
  const r = db
    .prepare('UPDATE repos SET anonymous_read = ? WHERE owner = ? AND name = ?')
    .run(options.value ? 1 : 0, options.owner, options.name);
  if (r.changes === 0) throw new UsageError('USAGE_NOT_FOUND', `no repository ${options.owner}/${options.name}`);
}

/**
 * Repositories, all of them (no `user` given and `all`), or those a user (or, with `user` undefined, anyone) can read.
 *
 * @example
 * listRepos(db, { user: 'alice' }) // public ones plus those alice has a grant on
 */
export function listRepos(db: HubDatabase, options: { user?: string | undefined; all?: boolean } = {}): HubRepo[] {
  const rows = (
    options.all
      ? db.prepare('SELECT * FROM repos ORDER BY owner, name').all()
      : db
          .prepare(
            `SELECT * FROM repos r WHERE r.anonymous_read = 1 OR EXISTS
               (SELECT 1 FROM grants g WHERE g.owner = r.owner AND g.name = r.name AND g.user = ?)
             ORDER BY owner, name`,
          )
          .all(options.user ?? null)
  ) as { owner: string; name: string; anonymous_read: number; created_at: number }[];
  return rows.map(rowToRepo);
}

export function countRepos(db: HubDatabase): number {
  return (db.prepare('SELECT count(*) AS n FROM repos').get() as { n: number }).n;
}

/**
 * Gives a user a role on a repository (replacing any earlier one).
 *
 * @example
 * grant(db, { user: 'bob', owner: 'alice', name: 'digits', role: 'write' });
 */
export function grant(db: HubDatabase, options: { user: string; owner: string; name: string; role: Role }): void {
  if (!ROLES.includes(options.role)) {
    throw new UsageError('USAGE', `${JSON.stringify(options.role)}: expected one of ${ROLES.join(', ')}`);
  }
  if (!userExists(db, options.user)) throw new UsageError('USAGE_NOT_FOUND', `no user ${options.user}`);
  if (!getRepo(db, options.owner, options.name)) {
    throw new UsageError('USAGE_NOT_FOUND', `no repository ${options.owner}/${options.name}`);
  }
  db.prepare('INSERT OR REPLACE INTO grants (user, owner, name, role) VALUES (?, ?, ?, ?)').run(
    options.user,
    options.owner,
    options.name,
    options.role,
  );
}

export function revoke(db: HubDatabase, options: { user: string; owner: string; name: string }): boolean {
  return (
    db
      .prepare('DELETE FROM grants WHERE user = ? AND owner = ? AND name = ?')
      .run(options.user, options.owner, options.name).changes > 0
  );
}

/** The role a user has been granted on a repository (undefined: none; anonymous read is not a grant). */
export function roleOf(db: HubDatabase, options: { user: string; owner: string; name: string }): Role | undefined {
  const r = db
    .prepare('SELECT role FROM grants WHERE user = ? AND owner = ? AND name = ?')
    .get(options.user, options.owner, options.name) as { role: Role } | undefined;
  return r?.role;
}

/**
 * Whether `user` (undefined: anonymous) may do `need` on a repository: grants rank read < write < admin, and a
 * repository with anonymous read lets anyone read.
 */
export function canAccess(db: HubDatabase, options: { user: string | undefined; repo: HubRepo; need: Role }): boolean {
  const { repo, need } = options;
  if (need === 'read' && repo.anonymousRead) return true;
  if (options.user === undefined) return false;
  const role = roleOf(db, { user: options.user, owner: repo.owner, name: repo.name });
  return role !== undefined && ROLE_RANK[role] >= ROLE_RANK[need];
}
