// Starts s3rver (a pure-JS S3 server, devDependency) on 127.0.0.1 port 0 with one bucket, for tests and benches.
// Test support only: never imported by library code.

import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// @ts-expect-error s3rver ships no types
import S3rver from 's3rver';

/**
 * A running s3rver with bucket `weft-test`; credentials S3RVER/S3RVER.
 *
 * @example
 * const s3 = await startS3rver(); // s3.endpoint → 'http://127.0.0.1:41234'
 * await s3.stop();
 */
export async function startS3rver(): Promise<{
  endpoint: string;
  bucket: string;
  directory: string;
  stop(): Promise<void>;
}> {
  const directory = await mkdtemp(join(tmpdir(), 'weft-s3rver-'));
  const bucket = 'weft-test';
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
  });
  const { port } = (await server.run()) as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    directory,
    async stop() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
