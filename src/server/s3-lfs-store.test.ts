import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3rver } from '../remote/test-support/s3rver.js';
import { s3StoreFor } from './s3-lfs-store.js';

let s3: Awaited<ReturnType<typeof startS3rver>>;
const dataDir = mkdtempSync(join(tmpdir(), 'weft-hubs3-'));
beforeAll(async () => {
  s3 = await startS3rver();
});
afterAll(async () => {
  await s3.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function* chunks(...parts: Uint8Array[]): AsyncIterable<Uint8Array> {
  yield* parts;
}

describe('S3LfsStore (s3rver)', () => {
  it('stores verified objects per repository, reads them back, and sends nothing unverified', async () => {
    const storeFor = s3StoreFor({
      dataDir,
      s3: {
        url: `s3://${s3.bucket}/hub`,
        endpoint: s3.endpoint,
        credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
        retry: { attempts: 1, baseDelayMs: 1 },
      },
    });
    const a = storeFor({ owner: 'alice', name: 'm' });
    const b = storeFor({ owner: 'bob', name: 'm' });
    const bytes = new TextEncoder().encode('an object in a bucket');
    const oid = createHash('sha256').update(bytes).digest('hex');
    expect(await a.size(oid)).toBeUndefined();
    expect(await a.put(oid, chunks(bytes), { maxBytes: 1000 })).toEqual({
      ok: true,
      size: bytes.length,
      created: true,
    });
    expect(await a.size(oid)).toBe(bytes.length);
    expect(await b.size(oid)).toBeUndefined();
    const opened = await a.open(oid);
    const got: Buffer[] = [];
    for await (const c of opened!.stream) got.push(c as Buffer);
    expect(Buffer.concat(got).toString()).toBe('an object in a bucket');
    expect(await b.open(oid)).toBeUndefined();

    const other = createHash('sha256').update('x').digest('hex');
    expect(await a.put(other, chunks(bytes), { maxBytes: 1000 })).toMatchObject({ ok: false, reason: 'hash-mismatch' });
    expect(await a.put(other, chunks(bytes), { maxBytes: 5 })).toMatchObject({ ok: false, reason: 'too-large' });
    expect(await a.size(other)).toBeUndefined();
    expect(readdirSync(join(dataDir, 'tmp'))).toEqual([]);
    expect(await a.size('../../etc/passwd')).toBeUndefined();
  });
});
