import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { FilesystemTransport } from './filesystem-transport.js';
import { transportConformance } from './test-support/transport-conformance.js';

const dirs: string[] = [];
async function fresh(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'weft-fs-remote-'));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('FilesystemTransport', () => {
  transportConformance({
    create: async () => new FilesystemTransport({ url: pathToFileURL(await fresh()).href, durable: false }),
  });

  it('uses the git-lfs layout lfs/objects/aa/bb/<oid> and accepts plain paths', async () => {
    const root = await fresh();
    const t = new FilesystemTransport({ url: root });
    const oid = 'ab'.repeat(32);
    await t.upload({ oid, size: 3 }, new Uint8Array([1, 2, 3]));
    expect(await readdir(join(root, 'lfs', 'objects', 'ab', 'ab'))).toEqual([oid]);
    expect(await readdir(join(root, 'lfs', 'tmp'))).toEqual([]);
  });

  it('reports a copy of the wrong size as missing (a torn file is sent again)', async () => {
    const root = await fresh();
    const t = new FilesystemTransport({ url: root });
    const oid = 'cd'.repeat(32);
    await mkdir(join(root, 'lfs', 'objects', 'cd', 'cd'), { recursive: true });
    await writeFile(join(root, 'lfs', 'objects', 'cd', 'cd', oid), 'ab');
    expect(await t.listMissing([{ oid, size: 3 }])).toEqual([{ oid, size: 3 }]);
    await t.upload({ oid, size: 3 }, new Uint8Array([1, 2, 3]));
    expect(await t.listMissing([{ oid, size: 3 }])).toEqual([]);
  });
});
