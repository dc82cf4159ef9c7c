// The suite every Transport must pass: existence checks, upload, download, idempotence, missing objects, parallel
// use, and names free of credentials. Each transport's test file calls it with a factory over a real server.

import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RemoteError } from '../../errors.js';
import type { Transport } from '../transport.js';

export interface ConformanceOptions {
  /** A fresh, empty remote for each test. */
  create(): Promise<Transport>;
  /** Secrets that must never appear in `name` or in an error message. */
  secrets?: string[];
  /** Sizes to try (default 0, 1, 1000 and 300 KiB); S3 adds one above its multipart threshold. */
  sizes?: number[];
}

function object(size: number): { oid: string; size: number; bytes: Uint8Array } {
  const bytes = new Uint8Array(randomBytes(size));
  return { oid: createHash('sha256').update(bytes).digest('hex'), size, bytes };
}

/**
 * Registers the conformance tests in the current `describe`.
 *
 * @example
 * describe('filesystem transport', () => transportConformance({ create: async () => new FilesystemTransport({ url: tmp() }) }));
 */
export function transportConformance(options: ConformanceOptions): void {
  const sizes = options.sizes ?? [0, 1, 1000, 300 * 1024];

  describe('transport conformance', () => {
    it('reports missing objects, uploads them, then reports none missing and downloads the same bytes', async () => {
      const t = await options.create();
      try {
        const objects = sizes.map(object);
        const missing = await t.listMissing(objects.map(({ oid, size }) => ({ oid, size })));
        expect(missing.map((o) => o.oid)).toEqual(objects.map((o) => o.oid));
        for (const o of objects) await t.upload({ oid: o.oid, size: o.size }, o.bytes);
        expect(await t.listMissing(objects.map(({ oid, size }) => ({ oid, size })))).toEqual([]);
        for (const o of objects) {
          const got = await t.download({ oid: o.oid, size: o.size });
          expect(Buffer.from(got).equals(Buffer.from(o.bytes))).toBe(true);
        }
        // Download without a known size (manifests do not record stored sizes).
        const last = objects[objects.length - 1]!;
        expect(Buffer.from(await t.download({ oid: last.oid })).equals(Buffer.from(last.bytes))).toBe(true);
        // A transport that hashes while downloading reports the SHA-256 of exactly the bytes it returns.
        if (t.downloadHashed) {
          for (const o of objects) {
            const got = await t.downloadHashed({ oid: o.oid });
            expect(got.sha256).toBe(o.oid);
            expect(Buffer.from(got.bytes).equals(Buffer.from(o.bytes))).toBe(true);
          }
        }
      } finally {
        await t.close();
      }
    });

    it('deduplicates and keeps input order in listMissing, and treats an empty list as nothing missing', async () => {
      const t = await options.create();
      try {
        const [a, b, c] = [object(10), object(20), object(30)];
        await t.upload({ oid: b!.oid, size: b!.size }, b!.bytes);
        const missing = await t.listMissing([a!, b!, c!, a!].map(({ oid, size }) => ({ oid, size })));
        expect(missing.map((o) => o.oid)).toEqual([a!.oid, c!.oid]);
        expect(await t.listMissing([])).toEqual([]);
      } finally {
        await t.close();
      }
    });

    it('uploads idempotently, also in parallel', async () => {
      const t = await options.create();
      try {
        const o = object(5000);
        await Promise.all([1, 2, 3].map(() => t.upload({ oid: o.oid, size: o.size }, o.bytes)));
        await t.upload({ oid: o.oid, size: o.size }, o.bytes);
        expect(Buffer.from(await t.download({ oid: o.oid, size: o.size })).equals(Buffer.from(o.bytes))).toBe(true);
        const many = Array.from({ length: 12 }, (_, i) => object(100 + i));
        await Promise.all(many.map((m) => t.upload({ oid: m.oid, size: m.size }, m.bytes)));
        expect(await t.listMissing(many.map(({ oid, size }) => ({ oid, size })))).toEqual([]);
      } finally {
        await t.close();
      }
    });

    it('fails a download of an absent object with REMOTE_MISSING naming the oid and the remote', async () => {
      const t = await options.create();
      try {
        const o = object(64);
        const error = await t.download({ oid: o.oid, size: o.size }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(RemoteError);
        expect((error as RemoteError).code).toBe('REMOTE_MISSING');
        expect((error as RemoteError).message).toContain(o.oid);
        expect((error as RemoteError).message).toContain(t.name);
        for (const s of options.secrets ?? []) {
          expect(t.name).not.toContain(s);
          expect((error as RemoteError).message).not.toContain(s);
        }
      } finally {
        await t.close();
      }
    });

    it('rejects ids that are not 64 lowercase hex digits before touching the remote', async () => {
      const t = await options.create();
      try {
        await expect(t.download({ oid: '../../etc/passwd' })).rejects.toThrow(/not an object id/);
        await expect(t.upload({ oid: 'A'.repeat(64), size: 0 }, new Uint8Array())).rejects.toThrow(/not an object id/);
      } finally {
        await t.close();
      }
    });
  });
}
