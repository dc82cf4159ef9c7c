// Where the hub keeps a repository's LFS objects: by default inside its bare repository at `lfs/objects/aa/bb/<oid>`
// (git-lfs's and Weft's file-remote layout). Uploads are hashed as they stream to a temp file, fsynced and renamed;
// nothing unverified is ever visible under its oid.

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

/** An object id: the SHA-256 of the object's bytes, lower-case hex. Anything else never reaches a path. */
export const OID_PATTERN = /^[0-9a-f]{64}$/;

export type PutResult =
  | { ok: true; size: number; created: boolean }
  | { ok: false; reason: 'too-large' | 'hash-mismatch' | 'size-mismatch'; size: number };

/** One repository's object storage. */
export interface LfsObjectStore {
  /** The stored size of `oid`, or undefined when absent. */
  size(oid: string): Promise<number | undefined>;
  /**
   * Stores the bytes of `body` as `oid` if their SHA-256 is `oid`, at most `maxBytes` long, and exactly
   * `expectedSize` long when given. Reads no further than `maxBytes + 1`.
   */
  put(
    oid: string,
    body: AsyncIterable<Uint8Array>,
    limits: { maxBytes: number; expectedSize?: number },
  ): Promise<PutResult>;
  /** A stream of the object's bytes and its size, or undefined when absent. */
  open(oid: string): Promise<{ size: number; stream: Readable } | undefined>;
}

function checkOid(oid: string): void {
  if (!OID_PATTERN.test(oid)) throw new RangeError(`${JSON.stringify(oid)} is not a SHA-256 object id`);
}

/**
 * Objects in the git-lfs layout under `<gitDir>/lfs/objects`, temp files in `<gitDir>/lfs/tmp`.
 *
 * @example
 * const store = new FileLfsStore({ gitDir: '/data/repos/alice/digits.git' });
 * await store.size(oid);
 */
export class FileLfsStore implements LfsObjectStore {
  private readonly root: string;
  private readonly tmp: string;

  constructor(options: { gitDir: string }) {
    this.root = join(options.gitDir, 'lfs', 'objects');
    this.tmp = join(options.gitDir, 'lfs', 'tmp');
  }

  path(oid: string): string {
    checkOid(oid);
    return join(this.root, oid.slice(0, 2), oid.slice(2, 4), oid);
  }

  async size(oid: string): Promise<number | undefined> {
    try {
      const s = await stat(this.path(oid));
      return s.isFile() ? s.size : undefined;
    } catch {
      return undefined;
    }
  }

  async put(
    oid: string,
    body: AsyncIterable<Uint8Array>,
    limits: { maxBytes: number; expectedSize?: number },
  ): Promise<PutResult> {
    const final = this.path(oid);
    const received = await receiveVerified({ oid, body, limits, tmpDir: this.tmp });
    if (!received.ok) return received;
    const { temp, size } = received;
    const existing = await this.size(oid);
    if (existing === size) {
      await rm(temp, { force: true });
      return { ok: true, size, created: false };
    }
    await mkdir(join(final, '..'), { recursive: true });
    await rename(temp, final);
    await syncDir(join(final, '..'));
    return { ok: true, size, created: true };
  }

  async open(oid: string): Promise<{ size: number; stream: Readable } | undefined> {
    const size = await this.size(oid);
    if (size === undefined) return undefined;
    return { size, stream: createReadStream(this.path(oid)) };
  }
}

/**
 * Streams `body` into a new temp file in `tmpDir`, hashing as it goes, and keeps the file (fsynced) only when its
 * SHA-256 is `oid` and its size is within `limits`; otherwise deletes it and says why. Reads at most one chunk past
 * `maxBytes`.
 *
 * @example
 * const r = await receiveVerified({ oid, body, limits: { maxBytes: 1 << 30 }, tmpDir });
 * if (r.ok) await rename(r.temp, finalPath);
 */
export async function receiveVerified(options: {
  oid: string;
  body: AsyncIterable<Uint8Array>;
  limits: { maxBytes: number; expectedSize?: number };
  tmpDir: string;
}): Promise<{ ok: true; temp: string; size: number } | Extract<PutResult, { ok: false }>> {
  const { oid, body, limits } = options;
  checkOid(oid);
  await mkdir(options.tmpDir, { recursive: true });
  const temp = join(options.tmpDir, `${oid}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const hash = createHash('sha256');
  let size = 0;
  const file = await open(temp, 'wx');
  let keep = false;
  // A request body comes in chunks of 16–64 KiB: one write per MiB, not per chunk (a write per chunk cost the hub
  // more time than hashing the upload).
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  try {
    for await (const chunk of body) {
      size += chunk.length;
      if (size > limits.maxBytes) return { ok: false, reason: 'too-large', size };
      if (limits.expectedSize !== undefined && size > limits.expectedSize) {
        return { ok: false, reason: 'size-mismatch', size };
      }
      hash.update(chunk);
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes >= WRITE_BATCH_BYTES || pending.length >= 512) {
        await writeAll(file, pending);
        pending = [];
        pendingBytes = 0;
      }
    }
    await writeAll(file, pending);
    if (limits.expectedSize !== undefined && size !== limits.expectedSize) {
      return { ok: false, reason: 'size-mismatch', size };
    }
    if (hash.digest('hex') !== oid) return { ok: false, reason: 'hash-mismatch', size };
    await file.sync();
    keep = true;
    return { ok: true, temp, size };
  } finally {
    await file.close();
    if (!keep) await rm(temp, { force: true });
  }
}

/** Bytes of an upload gathered before they are written to its temp file. */
const WRITE_BATCH_BYTES = 1024 * 1024;

/** Writes `chunks` at the file's position in one writev (a short write is finished piece by piece). */
async function writeAll(file: FileHandle, chunks: readonly Uint8Array[]): Promise<void> {
  if (chunks.length === 0) return;
  let written = (await file.writev(chunks as Uint8Array[])).bytesWritten;
  for (const chunk of chunks) {
    if (written >= chunk.length) {
      written -= chunk.length;
      continue;
    }
    let off = written;
    written = 0;
    while (off < chunk.length) off += (await file.write(chunk, off, chunk.length - off)).bytesWritten;
  }
}

/** Makes a rename durable (best effort: some file systems refuse fsync on directories). */
async function syncDir(dir: string): Promise<void> {
  try {
    const h = await open(dir, 'r');
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  } catch {
    // fsync of a directory is not supported everywhere; the object itself is already synced.
  }
}
