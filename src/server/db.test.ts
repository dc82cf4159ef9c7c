import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runGit } from '../git/run-git.js';
import {
  canAccess,
  checkRepoName,
  createRepo,
  createToken,
  createUser,
  getRepo,
  grant,
  listRepos,
  openHubDatabase,
  parseRepoSpec,
  repoGitDir,
  revokeToken,
  roleOf,
  verifyToken,
} from './db.js';

const dirs: string[] = [];
function tempData(): string {
  const d = mkdtempSync(join(tmpdir(), 'weft-hubdb-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('hub database', () => {
  it('migrates once (user_version) and reopens without changes, in WAL mode', () => {
    const file = join(tempData(), 'hub.db');
    const db = openHubDatabase(file);
    expect(db.pragma('user_version', { simple: true })).toBe(1);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    createUser(db, { name: 'alice' });
    db.close();
    const again = openHubDatabase(file);
    expect(again.prepare('SELECT name FROM users').all()).toEqual([{ name: 'alice' }]);
    const tables = again.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[];
    expect(tables.some((t) => t.name.startsWith('queue_'))).toBe(false);
    again.close();
  });

  it('refuses a database from a newer weft', () => {
    const file = join(tempData(), 'hub.db');
    const db = openHubDatabase(file);
    db.pragma('user_version = 99');
    db.close();
    expect(() => openHubDatabase(file)).toThrow(/schema version 99 is newer/);
  });

  it('stores tokens only as hashes; verifies, records use and revokes them', () => {
    const file = join(tempData(), 'hub.db');
    const db = openHubDatabase(file);
    createUser(db, { name: 'alice' });
    const { id, token } = createToken(db, { user: 'alice', label: 'laptop' });
    expect(token).toMatch(/^weft_[A-Za-z0-9_-]{32}$/);
    expect(verifyToken(db, token)).toBe('alice');
    expect(verifyToken(db, `${token}x`)).toBeUndefined();
    expect(verifyToken(db, 'not-a-weft-token')).toBeUndefined();
    const row = db.prepare('SELECT * FROM tokens').get() as Record<string, unknown>;
    expect(row.last_used_at).toBeTypeOf('number');
    expect(JSON.stringify(row)).not.toContain(token);
    db.pragma('wal_checkpoint(TRUNCATE)');
    expect(readFileSync(file).includes(Buffer.from(token))).toBe(false);
    expect(revokeToken(db, { user: 'alice', id })).toBe(true);
    expect(verifyToken(db, token)).toBeUndefined();
    expect(() => createToken(db, { user: 'nobody' })).toThrow(/no user nobody/);
    db.close();
  });

  it('validates names: no traversal, no slashes, no .git suffix', () => {
    for (const [owner, name] of [
      ['..', 'x'],
      ['a', '..'],
      ['a', '.hidden'],
      ['a', 'x/y'],
      ['a', 'x.git'],
      ['a/b', 'x'],
      ['a', ''],
      ['a', 'x..y'],
      ['', 'x'],
      ['a', '%2e%2e'],
      ['a', 'x\0'],
    ]) {
      expect(() => checkRepoName(owner!, name!), `${owner}/${name}`).toThrow();
    }
    checkRepoName('alice', 'digits-v2.1_x');
    expect(parseRepoSpec('alice/digits.git')).toEqual({ owner: 'alice', name: 'digits' });
    expect(() => parseRepoSpec('/etc/passwd')).toThrow();
    expect(() => repoGitDir('/data', '..', 'x')).toThrow();
  });

  it('creates bare repositories with smart HTTP enabled; roles rank read < write < admin; anonymous read', async () => {
    const dataDir = tempData();
    const db = openHubDatabase(join(dataDir, 'hub.db'));
    createUser(db, { name: 'alice' });
    createUser(db, { name: 'bob' });
    await createRepo(db, { dataDir, owner: 'alice', name: 'm' });
    await createRepo(db, { dataDir, owner: 'org', name: 'pub', anonymousRead: true });
    await expect(createRepo(db, { dataDir, owner: 'alice', name: 'm' })).rejects.toThrow(/already exists/);
    const gitDir = repoGitDir(dataDir, 'alice', 'm');
    const cfg = await runGit(['config', '--get', 'http.receivepack'], { cwd: gitDir });
    expect(cfg.stdout.toString().trim()).toBe('true');
    const bare = await runGit(['rev-parse', '--is-bare-repository'], { cwd: gitDir });
    expect(bare.stdout.toString().trim()).toBe('true');
    expect(roleOf(db, { user: 'alice', owner: 'alice', name: 'm' })).toBe('admin');

    const m = getRepo(db, 'alice', 'm')!;
    const pub = getRepo(db, 'org', 'pub')!;
    expect(canAccess(db, { user: undefined, repo: m, need: 'read' })).toBe(false);
    expect(canAccess(db, { user: undefined, repo: pub, need: 'read' })).toBe(true);
    expect(canAccess(db, { user: undefined, repo: pub, need: 'write' })).toBe(false);
    expect(canAccess(db, { user: 'bob', repo: m, need: 'read' })).toBe(false);
    grant(db, { user: 'bob', owner: 'alice', name: 'm', role: 'read' });
    expect(canAccess(db, { user: 'bob', repo: m, need: 'read' })).toBe(true);
    expect(canAccess(db, { user: 'bob', repo: m, need: 'write' })).toBe(false);
    grant(db, { user: 'bob', owner: 'alice', name: 'm', role: 'write' });
    expect(canAccess(db, { user: 'bob', repo: m, need: 'write' })).toBe(true);
    expect(canAccess(db, { user: 'bob', repo: m, need: 'admin' })).toBe(false);
    expect(canAccess(db, { user: 'alice', repo: m, need: 'admin' })).toBe(true);
    expect(() => grant(db, { user: 'bob', owner: 'alice', name: 'nope', role: 'read' })).toThrow(/no repository/);
    expect(() => grant(db, { user: 'bob', owner: 'alice', name: 'm', role: 'owner' as 'read' })).toThrow(
      /expected one of/,
    );

    expect(listRepos(db, {}).map((r) => r.name)).toEqual(['pub']);
    expect(listRepos(db, { user: 'bob' }).map((r) => r.name)).toEqual(['m', 'pub']);
    expect(listRepos(db, { all: true })).toHaveLength(2);
    db.close();
  });
});
