import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type LfsTestServer, startLfsServer } from '../../test/support/lfs-server.js';
import { RemoteError } from '../errors.js';
import { LfsTransport } from './lfs-transport.js';
import { transportConformance } from './test-support/transport-conformance.js';

const dirs: string[] = [];
const servers: LfsTestServer[] = [];
async function fresh(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'weft-lfs-'));
  dirs.push(d);
  return d;
}
async function server(switches = {}): Promise<LfsTestServer> {
  const s = await startLfsServer({ dir: await fresh(), switches });
  servers.push(s);
  return s;
}
afterAll(async () => {
  for (const s of servers) await s.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
const fast = { attempts: 3, baseDelayMs: 1 };
function object(size: number) {
  const bytes = new Uint8Array(randomBytes(size));
  return { oid: createHash('sha256').update(bytes).digest('hex'), size, bytes };
}
/** A git repository whose credential helper answers with user/pass from a file (no prompt, no terminal). */
async function credentialRepo(username: string, password: string): Promise<string> {
  const d = await fresh();
  execFileSync('git', ['init', '-q', d]);
  const store = join(d, 'creds');
  await writeFile(store, '');
  execFileSync('git', ['-C', d, 'config', 'credential.helper', `store --file=${store}`]);
  const filler = join(d, 'fill.sh');
  await writeFile(
    filler,
    `#!/bin/sh\n[ "$1" = get ] && printf 'username=${username}\\npassword=${password}\\n'\nexit 0\n`,
    { mode: 0o755 },
  );
  execFileSync('git', ['-C', d, 'config', '--add', 'credential.helper', filler]);
  return d;
}

describe('LfsTransport against the test LFS server', () => {
  transportConformance({
    create: async () => new LfsTransport({ url: (await server()).url, cwd: tmpdir(), retry: fast }),
  });

  it('honours verify actions and batches existence checks', async () => {
    const s = await server({ verify: true, expiresIn: 0 });
    const t = new LfsTransport({ url: s.url, cwd: tmpdir(), retry: fast });
    const objs = Array.from({ length: 150 }, (_, i) => object(10 + i));
    const missing = await t.listMissing(objs);
    expect(missing).toHaveLength(150);
    expect(s.stats.batches.map((b) => b.objects.length)).toEqual([100, 50]);
    for (const o of objs.slice(0, 3)) await t.upload(o, o.bytes);
    expect(s.stats.verifies).toEqual(objs.slice(0, 3).map((o) => o.oid));
  });

  it('asks for download actions in batches ahead of many downloads', async () => {
    const s = await server();
    const t = new LfsTransport({ url: s.url, cwd: tmpdir(), retry: fast });
    const objs = Array.from({ length: 120 }, (_, i) => object(5 + i));
    for (const o of objs) await t.upload(o, o.bytes);
    s.stats.batches.length = 0;
    await t.prepareDownloads(objs.map((o) => ({ oid: o.oid })));
    for (const o of objs) expect(Buffer.from(await t.download({ oid: o.oid })).equals(Buffer.from(o.bytes))).toBe(true);
    expect(s.stats.batches.map((b) => [b.operation, b.objects.length])).toEqual([
      ['download', 100],
      ['download', 20],
    ]);
  });

  it('retries 500s and asks again for hrefs that fail as expired', async () => {
    const s = await server({ fail500: 2, expireHrefs: 1 });
    const t = new LfsTransport({ url: s.url, cwd: tmpdir(), retry: fast });
    const o = object(1234);
    await t.upload(o, o.bytes);
    expect(s.stats.puts).toEqual([o.oid]);
    s.switches.fail500 = 5;
    const e = await t.download(o).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'REMOTE_UNREACHABLE', retryable: true });
    expect((e as Error).message).toContain(s.url);
  });

  it('reports per-object errors by oid', async () => {
    const o = object(99);
    const s = await server({ objectErrors: { [o.oid]: { code: 422, message: 'object too large' } } });
    const t = new LfsTransport({ url: s.url, cwd: tmpdir(), retry: fast });
    const e = await t.listMissing([o]).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RemoteError);
    expect((e as Error).message).toMatch(new RegExp(`${o.oid}.*422.*object too large`));
  });

  it('gets credentials from git credential on a 401, and never shows them', async () => {
    const s = await server({ auth: { username: 'alice', password: 's3cret-pw' } });
    const cwd = await credentialRepo('alice', 's3cret-pw');
    const t = new LfsTransport({ url: s.url, cwd, retry: fast });
    const o = object(300);
    expect(await t.listMissing([o])).toHaveLength(1);
    await t.upload(o, o.bytes);
    expect(Buffer.from(await t.download(o)).equals(Buffer.from(o.bytes))).toBe(true);
    expect(s.stats.unauthorized).toBe(1);

    const bad = new LfsTransport({ url: s.url, cwd: await credentialRepo('alice', 'wrong'), retry: fast });
    const e = await bad.listMissing([o]).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'REMOTE_AUTH' });
    expect((e as Error).message).not.toContain('wrong');
    const withUserInfo = new LfsTransport({
      url: s.url.replace('http://', 'http://alice:s3cret-pw@'),
      cwd,
      retry: fast,
    });
    expect(withUserInfo.name).not.toContain('s3cret');
    expect(await withUserInfo.listMissing([o])).toEqual([]);
  });
});
