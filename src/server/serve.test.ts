import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRepo, createToken, createUser, openHubDatabase } from './db.js';
import { startHub } from './serve.js';

const dir = mkdtempSync(join(tmpdir(), 'weft-hubserve-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('startHub', () => {
  it('persists across restarts and shuts down gracefully: in-flight downloads finish, then onClose, then the db', async () => {
    const db = openHubDatabase(join(dir, 'hub.db'));
    createUser(db, { name: 'alice' });
    const { token } = createToken(db, { user: 'alice' });
    await createRepo(db, { dataDir: dir, owner: 'alice', name: 'm' });
    db.close();
    const bytes = randomBytes(8 * 1024 * 1024);
    const oid = createHash('sha256').update(bytes).digest('hex');
    const auth = { authorization: `Bearer ${token}` };
    const objectUrl = (base: string) => `${base}/alice/m.git/info/lfs/objects/${oid}`;

    const first = await startHub({ dataDir: dir, log: () => {} });
    expect((await fetch(objectUrl(first.url), { method: 'PUT', headers: auth, body: bytes })).status).toBe(200);
    await first.close();

    const hub = await startHub({ dataDir: dir, log: () => {} });
    const order: string[] = [];
    hub.onClose.push(() => {
      order.push(`onClose (db open: ${hub.db.open})`);
    });
    const u = new URL(objectUrl(hub.url));
    // A download in flight when close() is called: paused until the server has stopped accepting.
    const download = new Promise<Buffer>((resolve, reject) => {
      request({ host: u.hostname, port: u.port, path: u.pathname, headers: auth }, (res) => {
        res.pause();
        order.push('response started');
        setTimeout(() => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(Buffer.concat(chunks)));
          res.resume();
        }, 300);
      })
        .on('error', reject)
        .end();
    });
    while (!order.includes('response started')) await new Promise((r) => setTimeout(r, 10));
    const closed = hub.close().then(() => order.push('closed'));
    await new Promise((r) => setTimeout(r, 100));
    await expect(fetch(`${hub.url}/healthz`)).rejects.toThrow();
    const got = await download;
    await closed;
    expect(createHash('sha256').update(got).digest('hex')).toBe(oid);
    expect(order).toEqual(['response started', 'onClose (db open: true)', 'closed']);
    expect(hub.db.open).toBe(false);
  });
});
