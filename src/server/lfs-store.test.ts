import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileLfsStore } from './lfs-store.js';

const gitDir = mkdtempSync(join(tmpdir(), 'weft-lfsstore-'));
afterAll(() => rmSync(gitDir, { recursive: true, force: true }));
const store = new FileLfsStore({ gitDir });
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
async function* chunks(...parts: Uint8Array[]): AsyncIterable<Uint8Array> {
  yield* parts;
}
const tmpFiles = () => (existsSync(join(gitDir, 'lfs', 'tmp')) ? readdirSync(join(gitDir, 'lfs', 'tmp')) : []);

describe('FileLfsStore', () => {
  const bytes = new TextEncoder().encode('hello objects');
  const oid = sha(bytes);

  it('stores verified bytes in the git-lfs layout, once', async () => {
    expect(await store.size(oid)).toBeUndefined();
    expect(await store.put(oid, chunks(bytes.subarray(0, 5), bytes.subarray(5)), { maxBytes: 100 })).toEqual({
      ok: true,
      size: bytes.length,
      created: true,
    });
    const path = join(gitDir, 'lfs', 'objects', oid.slice(0, 2), oid.slice(2, 4), oid);
    expect(readFileSync(path)).toEqual(Buffer.from(bytes));
    expect(await store.size(oid)).toBe(bytes.length);
    expect(await store.put(oid, chunks(bytes), { maxBytes: 100, expectedSize: bytes.length })).toMatchObject({
      ok: true,
      created: false,
    });
    const opened = await store.open(oid);
    const got: Buffer[] = [];
    for await (const c of opened!.stream) got.push(c as Buffer);
    expect(Buffer.concat(got)).toEqual(Buffer.from(bytes));
    expect(tmpFiles()).toEqual([]);
  });

  it('refuses wrong bytes, oversize and a size other than announced, leaving nothing behind', async () => {
    const other = sha(new TextEncoder().encode('other'));
    expect(await store.put(other, chunks(bytes), { maxBytes: 100 })).toMatchObject({
      ok: false,
      reason: 'hash-mismatch',
    });
    expect(await store.put(other, chunks(bytes), { maxBytes: 4 })).toMatchObject({ ok: false, reason: 'too-large' });
    expect(await store.put(other, chunks(bytes), { maxBytes: 100, expectedSize: 3 })).toMatchObject({
      ok: false,
      reason: 'size-mismatch',
    });
    expect(await store.put(other, chunks(bytes), { maxBytes: 100, expectedSize: 30 })).toMatchObject({
      ok: false,
      reason: 'size-mismatch',
    });
    expect(await store.size(other)).toBeUndefined();
    expect(tmpFiles()).toEqual([]);
  });

  it('never builds a path from anything but a SHA-256 hex id', async () => {
    for (const bad of ['../../etc/passwd', 'A'.repeat(64), `${'a'.repeat(63)}/`, '']) {
      expect(() => store.path(bad)).toThrow(/not a SHA-256 object id/);
      expect(await store.size(bad)).toBeUndefined();
    }
  });
});
