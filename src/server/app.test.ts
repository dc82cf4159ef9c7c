import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHubApp, diffRefs, type HubApp } from './app.js';
import { createRepo, createToken, createUser, type HubDatabase, openHubDatabase } from './db.js';
import type { HubLogEntry } from './log.js';

let dir: string;
let db: HubDatabase;
let app: HubApp;
let token: string;
const logs: HubLogEntry[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'weft-hubapp-'));
  db = openHubDatabase(join(dir, 'hub.db'));
  createUser(db, { name: 'alice' });
  token = createToken(db, { user: 'alice' }).token;
  await createRepo(db, { dataDir: dir, owner: 'alice', name: 'm' });
  await createRepo(db, { dataDir: dir, owner: 'alice', name: 'pub', anonymousRead: true });
  app = createHubApp({
    dataDir: dir,
    db,
    log: (e) => logs.push(e),
    version: '9.9.9',
    extraRoutes: (a) => {
      a.get('/extra', (c) => c.text('extra'));
      a.get('/api/repos/:owner/:name/proposals', (c) => c.json({ user: c.get('user') ?? null }));
    },
  });
});
afterAll(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('createHubApp routing', () => {
  it('serves /healthz, extra routes, and logs one line per request without query or secrets', async () => {
    expect(await (await app.request('/healthz')).json()).toEqual({ ok: true, version: '9.9.9', repos: 2 });
    expect(await (await app.request('/extra')).text()).toBe('extra');
    await app.request('/alice/m.git/info/refs?service=git-upload-pack&secret=s3cr3t', {
      headers: { authorization: `Bearer ${token}` },
    });
    const last = logs.at(-1)!;
    expect(last).toMatchObject({
      msg: 'request',
      method: 'GET',
      path: '/alice/m.git/info/refs',
      status: 200,
      user: 'alice',
    });
    expect(JSON.stringify(logs)).not.toContain('s3cr3t');
    expect(JSON.stringify(logs)).not.toContain(token);
  });

  it('hides private and unknown repositories: 401 without a token, 404 with one', async () => {
    for (const path of [
      '/alice/m.git/info/refs?service=git-upload-pack',
      '/alice/none.git/info/refs?service=git-upload-pack',
    ]) {
      const anon = await app.request(path);
      expect(anon.status).toBe(401);
      expect(anon.headers.get('www-authenticate')).toContain('Basic realm="weft"');
    }
    createUser(db, { name: 'eve' });
    const eve = createToken(db, { user: 'eve' }).token;
    const r = await app.request('/alice/m.git/info/refs?service=git-upload-pack', {
      headers: { authorization: `Bearer ${eve}` },
    });
    expect(r.status).toBe(404);
    const pub = await app.request('/alice/pub.git/info/refs?service=git-upload-pack');
    expect(pub.status).toBe(200);
    expect(pub.headers.get('content-type')).toBe('application/x-git-upload-pack-advertisement');
    expect((await app.request('/api/repos/alice/m')).status).toBe(401);
    expect(await (await app.request('/api/repos/alice/pub')).json()).toMatchObject({
      defaultBranch: 'main',
      headCommit: null,
    });
  });

  it('guards extra routes under /api/repos/:owner/:name/ with read access', async () => {
    expect((await app.request('/api/repos/alice/m/proposals')).status).toBe(401);
    expect((await app.request('/api/repos/alice/none/proposals')).status).toBe(401);
    const ok = await app.request('/api/repos/alice/m/proposals', { headers: { authorization: `Bearer ${token}` } });
    expect(await ok.json()).toEqual({ user: 'alice' });
    expect(await (await app.request('/api/repos/alice/pub/proposals')).json()).toEqual({ user: null });
  });

  it('refuses invalid repository names with 400 and unknown routes with 404', async () => {
    expect((await app.request('/alice/x%2f..%2fm.git/info/refs?service=git-upload-pack')).status).toBe(400);
    expect((await app.request('/alice/.m.git/info/refs')).status).toBe(400);
    expect((await app.request('/nothing/here')).status).toBe(404);
    expect((await app.request('/alice/pub.git/objects/info/packs')).status).toBe(404);
    expect((await app.request('/alice/pub.git/info/refs')).status).toBe(403);
  });

  it('lets anonymous readers download from a public repository but not upload', async () => {
    const batch = (operation: string) =>
      app.request('/alice/pub.git/info/lfs/objects/batch', {
        method: 'POST',
        headers: { 'content-type': 'application/vnd.git-lfs+json' },
        body: JSON.stringify({ operation, objects: [{ oid: 'a'.repeat(64), size: 1 }] }),
      });
    const down = await batch('download');
    expect(down.status).toBe(200);
    expect(((await down.json()) as { objects: { error: { code: number } }[] }).objects[0]!.error.code).toBe(404);
    expect((await batch('upload')).status).toBe(401);
  });
});

describe('diffRefs', () => {
  it('lists created, moved and deleted refs', () => {
    const a = 'a'.repeat(40);
    const b = 'b'.repeat(40);
    const before = new Map([
      ['refs/heads/main', a],
      ['refs/heads/gone', a],
      ['refs/tags/v1', a],
    ]);
    const after = new Map([
      ['refs/heads/main', b],
      ['refs/heads/new', b],
      ['refs/tags/v1', a],
    ]);
    expect(diffRefs(before, after)).toEqual([
      { ref: 'refs/heads/gone', oldOid: a, newOid: '0'.repeat(40) },
      { ref: 'refs/heads/main', oldOid: a, newOid: b },
      { ref: 'refs/heads/new', oldOid: '0'.repeat(40), newOid: b },
    ]);
  });
});
