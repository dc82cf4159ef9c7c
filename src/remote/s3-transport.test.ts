import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Transport, s3OptionsFromEnvironment } from './s3-transport.js';
import { startS3rver } from './test-support/s3rver.js';
import { transportConformance } from './test-support/transport-conformance.js';

let s3: Awaited<ReturnType<typeof startS3rver>>;
let n = 0;

beforeAll(async () => {
  s3 = await startS3rver();
});
afterAll(async () => {
  await s3?.stop();
});

function transport(extra: Partial<ConstructorParameters<typeof S3Transport>[0]> = {}): S3Transport {
  return new S3Transport({
    url: `s3://${s3.bucket}/t${++n}/models`,
    endpoint: s3.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    ...extra,
  });
}

describe('S3Transport on s3rver', () => {
  transportConformance({ create: async () => transport(), secrets: ['S3RVER'] });

  it('sends objects above the threshold in parts and reads them back', async () => {
    const t = transport({ multipartThreshold: 5 * 1024 * 1024, partBytes: 5 * 1024 * 1024 });
    const bytes = new Uint8Array(randomBytes(11 * 1024 * 1024));
    const oid = createHash('sha256').update(bytes).digest('hex');
    await t.upload({ oid, size: bytes.length }, bytes);
    expect(await t.listMissing([{ oid, size: bytes.length }])).toEqual([]);
    expect(Buffer.from(await t.download({ oid })).equals(Buffer.from(bytes))).toBe(true);
  });

  it('reads endpoint, region and credentials from the environment', async () => {
    const o = await s3OptionsFromEnvironment({
      url: 's3://b/p',
      env: {
        AWS_ENDPOINT_URL: 'http://127.0.0.1:1',
        AWS_REGION: 'eu-west-1',
        AWS_ACCESS_KEY_ID: 'K',
        AWS_SECRET_ACCESS_KEY: 'S',
        AWS_SESSION_TOKEN: 'T',
        HOME: '/nonexistent',
      },
    });
    expect(o).toEqual({
      url: 's3://b/p',
      endpoint: 'http://127.0.0.1:1',
      region: 'eu-west-1',
      credentials: { accessKeyId: 'K', secretAccessKey: 'S', sessionToken: 'T' },
    });
  });

  it('fails with a retryable REMOTE_UNREACHABLE naming the oid when nothing listens', async () => {
    const t = new S3Transport({
      url: 's3://bucket',
      endpoint: 'http://127.0.0.1:1',
      retry: { attempts: 2, baseDelayMs: 1 },
    });
    const oid = 'ab'.repeat(32);
    const e = await t.download({ oid }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'REMOTE_UNREACHABLE', retryable: true });
    expect((e as Error).message).toContain(oid);
  });
});
