// LFS objects of the hub's repositories in an S3-compatible bucket, through Weft's own S3 transport: key
// `<prefix>/<owner>/<name>/lfs/objects/aa/bb/<oid>`. Uploads are verified on local disk before they reach the bucket.

import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { RemoteError } from '../errors.js';
import { S3Transport, type S3TransportOptions } from '../remote/s3-transport.js';
import { type LfsObjectStore, OID_PATTERN, type PutResult, receiveVerified } from './lfs-store.js';

/**
 * One repository's objects in a bucket.
 *
 * @example
 * const store = new S3LfsStore({ transport: new S3Transport({ url: 's3://models/hub/alice/digits', … }), tmpDir });
 */
export class S3LfsStore implements LfsObjectStore {
  private readonly transport: S3Transport;
  private readonly tmpDir: string;

  constructor(options: { transport: S3Transport; tmpDir: string }) {
    this.transport = options.transport;
    this.tmpDir = options.tmpDir;
  }

  async size(oid: string): Promise<number | undefined> {
    if (!OID_PATTERN.test(oid)) return undefined;
    return this.transport.sizeOf(oid);
  }

  async put(
    oid: string,
    body: AsyncIterable<Uint8Array>,
    limits: { maxBytes: number; expectedSize?: number },
  ): Promise<PutResult> {
    const received = await receiveVerified({ oid, body, limits, tmpDir: this.tmpDir });
    if (!received.ok) return received;
    try {
      if ((await this.size(oid)) === received.size) return { ok: true, size: received.size, created: false };
      const bytes = await readFile(received.temp);
      await this.transport.upload({ oid, size: bytes.length }, bytes);
      return { ok: true, size: bytes.length, created: true };
    } finally {
      await rm(received.temp, { force: true });
    }
  }

  async open(oid: string): Promise<{ size: number; stream: Readable } | undefined> {
    if (!OID_PATTERN.test(oid)) return undefined;
    try {
      const bytes = await this.transport.download({ oid });
      return { size: bytes.length, stream: Readable.from([Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)]) };
    } catch (error) {
      if (error instanceof RemoteError && error.code === 'REMOTE_MISSING') return undefined;
      throw error;
    }
  }
}

/**
 * A `storeFor` for startHub/createHubApp keeping every repository's objects under one bucket URL
 * (`s3://bucket/prefix`), one transport per repository; verified uploads wait in `<dataDir>/tmp`.
 *
 * @example
 * const storeFor = s3StoreFor({ dataDir, s3: await s3OptionsFromEnvironment({ url: 's3://models/hub', env: process.env }) });
 * await startHub({ dataDir, storeFor });
 */
export function s3StoreFor(options: {
  dataDir: string;
  s3: S3TransportOptions;
}): (repo: { owner: string; name: string }) => LfsObjectStore {
  const stores = new Map<string, S3LfsStore>();
  const base = options.s3.url.replace(/\/+$/, '');
  const tmpDir = join(options.dataDir, 'tmp');
  return (repo) => {
    const key = `${repo.owner}/${repo.name}`;
    let store = stores.get(key);
    if (!store) {
      store = new S3LfsStore({ transport: new S3Transport({ ...options.s3, url: `${base}/${key}` }), tmpDir });
      stores.set(key, store);
    }
    return store;
  };
}
