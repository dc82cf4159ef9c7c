// The content-addressed object store under `.git/weft/`: encode, hash, write atomically, verify on every read.
// It knows nothing of tensors, manifests or git, and never deletes anything unless asked (gc decides what).

import type { Stats } from 'node:fs';
import { mkdir, open, readdir, readFile, stat, unlink, utimes } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { StoreError } from '../errors.js';
import { CodecPool } from './codec-pool.js';
import type { HashPiece } from './codec-worker.js';
import {
  computeObjectId,
  decodeObject,
  encodeObject,
  type GroupWidth,
  type ObjectId,
  parseObjectId,
  type RawBytes,
  validateObject,
} from './object-codec.js';
import { errorCode, storeIoError, syncDirectory, TEMP_SUFFIX, writeFileAtomic } from './write-atomic.js';

/** Options of {@link ObjectStore}. */
export interface ObjectStoreOptions {
  /**
   * How many objects may be encoding, decoding, reading or writing at once; further calls wait. Bounds memory
   * (each in-flight object holds its raw, grouped and compressed bytes) and keeps libuv's pool busy, not flooded.
   * Default: the number of CPUs plus one, at least 3 (one object in JS while the others compress).
   */
  maxConcurrency?: number;
  /** fsync objects and their directories (default true). Turn off only for throwaway stores. */
  durable?: boolean;
}

/** Result of {@link ObjectStore.put} and {@link ObjectStore.putStored}. */
export interface PutResult {
  id: ObjectId;
  storedBytes: number;
  /** false when the object was already present (its mtime is refreshed instead, see lock.ts). */
  written: boolean;
}

/** One object found by {@link ObjectStore.listObjects}. */
export interface StoredObjectInfo {
  id: ObjectId;
  storedBytes: number;
  mtimeMs: number;
}

const HEX2 = /^[0-9a-f]{2}$/;
/** Objects at least this large are encoded and decoded on worker threads; smaller ones are cheaper in place. */
const WORKER_MIN_BYTES = 256 * 1024;

/** Options of {@link ObjectStore.put}. */
export interface PutOptions {
  /** Element size in bytes: the object is split into this many byte planes before compression. */
  groupWidth: GroupWidth;
  /**
   * Give up `raw`'s memory: pieces that own their whole ArrayBuffer move to a worker thread instead of being
   * copied, and are unusable afterwards (detached).
   */
  transfer?: boolean;
  /**
   * Leave the directory fsyncs to {@link ObjectStore.syncDirectories}, which the caller must await before it relies
   * on the object (clean does, once per file, before it answers git).
   */
  deferDirectorySync?: boolean;
}

/** Options of {@link ObjectStore.putStored}. */
export interface PutStoredOptions {
  /**
   * The SHA-256 (lowercase hex) of exactly `stored`, computed by the caller as the bytes arrived (see
   * readBodyHashed in remote/transport.ts): the store compares it with `expectedId` instead of hashing again.
   * Pass only a digest of these very bytes; without it the store hashes them itself.
   */
  sha256?: string;
  /** As {@link PutOptions.deferDirectorySync}: the caller awaits {@link ObjectStore.syncDirectories} afterwards. */
  deferDirectorySync?: boolean;
}

/** Options of {@link ObjectStore.get}. */
export interface GetOptions {
  /** Reject an object whose header declares another raw length, before decompressing it (STORE_CORRUPT). */
  expectedRawLength?: number;
  /**
   * Verify the SHA-256 of the stored bytes against the id (default true). Turn off only when the caller verifies
   * the decoded bytes itself (a content id covers them).
   */
  verify?: boolean;
  /** Feed a range of the decoded bytes to a running hash on a codec worker (needs the worker pool). */
  hash?: HashPiece;
  /**
   * Read and decode in recycled memory (needs the worker pool): the result is then a view of a buffer lent by
   * {@link CodecPool}, to give back with `release` once used, or to drop. For results used once.
   */
  lend?: boolean;
}

/**
 * Objects on disk at `<root>/objects/<aa>/<bb>/<id>` (the git-lfs layout), where `<id>` is the SHA-256 of the
 * stored bytes. Safe for concurrent use by many async callers and by several processes on one repository.
 *
 * @example
 * const store = new ObjectStore('/repo/.git/weft');
 * const { id } = await store.put(bf16Bytes, { groupWidth: 2 });
 * const bytes = await store.get(id, { expectedRawLength: bf16Bytes.length });
 */
export class ObjectStore {
  readonly root: string;
  readonly objectsDir: string;
  readonly tempDir: string;
  private readonly durable: boolean;
  private readonly limiter: Limiter;
  /** Directories whose fsync was deferred by puts with `deferDirectorySync`. */
  private readonly dirtyDirs = new Set<string>();
  /** Writes in flight in this process, so that concurrent puts of one object write it once. */
  private readonly writing = new Map<ObjectId, Promise<boolean>>();

  /** Opens the store rooted at `root` (usually `.git/weft`); directories are created on first write. */
  constructor(root: string, options: ObjectStoreOptions = {}) {
    this.root = root;
    this.objectsDir = join(root, 'objects');
    this.tempDir = join(root, 'tmp');
    this.durable = options.durable ?? true;
    const concurrency = options.maxConcurrency ?? Math.max(3, availableParallelism() + 1);
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`ObjectStore: maxConcurrency ${concurrency} is not a positive integer`);
    }
    this.limiter = new Limiter(concurrency);
  }

  /**
   * fsyncs every directory that puts with `deferDirectorySync` left unsynced, so the objects they wrote survive a
   * crash. Call it before relying on those objects (before a manifest naming them is handed to git).
   */
  async syncDirectories(): Promise<void> {
    const dirs = [...this.dirtyDirs];
    this.dirtyDirs.clear();
    try {
      await Promise.all(dirs.map((d) => syncDirectory(d)));
    } catch (error) {
      for (const d of dirs) this.dirtyDirs.add(d);
      throw storeIoError('sync', dirs[0] ?? this.root, error);
    }
  }

  /** Creates the store's directories now (they are otherwise created on first write) and fsyncs the root. */
  async init(): Promise<void> {
    try {
      await mkdir(this.objectsDir, { recursive: true });
      await mkdir(this.tempDir, { recursive: true });
      if (this.durable) await syncDirectory(this.root);
    } catch (error) {
      throw storeIoError('create', this.root, error);
    }
  }

  /** Where object `id` lives (whether or not it exists). */
  pathOf(id: ObjectId): string {
    checkId(id);
    return join(this.objectsDir, id.slice(0, 2), id.slice(2, 4), id);
  }

  /**
   * Encodes and stores raw bytes (see `encodeObject`), unless an identical object is already present. `raw` is
   * one buffer or a list of pieces whose concatenation is the object (the chunks a stream arrived in; they are
   * read in place, not concatenated). It must not change until the promise settles; with `transfer`, its memory
   * may move to a worker thread (the caller gives it up). Large objects are encoded on worker threads when the
   * compiled worker exists.
   *
   * @example
   * const { id, storedBytes, written } = await store.put(bytes, { groupWidth: 2 });
   * await store.put(chunksOfOneTensor, { groupWidth: 2, transfer: true });
   */
  async put(raw: RawBytes, options: PutOptions): Promise<PutResult> {
    const pieces: readonly Uint8Array[] = ArrayBuffer.isView(raw) ? [raw] : raw;
    const rawLength = pieces.reduce((sum, piece) => sum + piece.length, 0);
    return this.limiter.run(async () => {
      const pool = rawLength >= WORKER_MIN_BYTES ? CodecPool.shared() : undefined;
      let stored: Uint8Array;
      let id: ObjectId;
      if (pool) ({ stored, id } = await pool.encode(pieces, options.groupWidth, options.transfer === true));
      else {
        stored = await encodeObject(pieces, options.groupWidth);
        id = computeObjectId(stored);
      }
      const written = await this.writeStored(id, stored, options.deferDirectorySync === true);
      return { id, storedBytes: stored.length, written };
    });
  }

  /**
   * Stores bytes that are already an object (fetched from a remote). Verifies their SHA-256 against
   * `expectedId` and their header and zstd framing, and throws STORE_CORRUPT before writing anything bad.
   *
   * @example
   * await store.putStored(await download(oid), oid);
   * await store.putStored(bytes, oid, { sha256, deferDirectorySync: true }); // then: await store.syncDirectories()
   */
  async putStored(stored: Uint8Array, expectedId?: ObjectId, options: PutStoredOptions = {}): Promise<PutResult> {
    if (options.sha256 !== undefined && expectedId === undefined) {
      throw new RangeError('putStored: a caller-computed sha256 needs the expected id to compare it with');
    }
    return this.limiter.run(async () => {
      const id = (options.sha256 ?? computeObjectId(stored)) as ObjectId;
      if (expectedId !== undefined && id !== expectedId) {
        throw new StoreError('STORE_CORRUPT', `object ${expectedId}: received bytes have SHA-256 ${id}`);
      }
      validateObject(stored, { id });
      return {
        id,
        storedBytes: stored.length,
        written: await this.writeStored(id, stored, options.deferDirectorySync === true),
      };
    });
  }

  /**
   * Reads, verifies (SHA-256 of the stored bytes, unless `verify` is false) and decodes an object. STORE_MISSING
   * if absent, STORE_CORRUPT (naming the id and path) if its bytes do not match its name or do not decode. The
   * file is read on this thread; large objects are verified and decoded on a worker thread when the compiled
   * worker exists.
   *
   * @example
   * const raw = await store.get(id, { expectedRawLength: 4096 });
   */
  async get(id: ObjectId, options: GetOptions = {}): Promise<Uint8Array> {
    const file = this.pathOf(id);
    const verify = options.verify !== false;
    return this.limiter.run(async () => {
      const lender = options.lend ? CodecPool.shared() : undefined;
      const stored = await this.readFileOf(id, file, lender);
      const pool = stored.length >= WORKER_MIN_BYTES || options.hash || lender ? CodecPool.shared() : undefined;
      const expected = options.expectedRawLength === undefined ? {} : { expectedRawLength: options.expectedRawLength };
      if (options.hash || lender) {
        if (!pool) throw new Error('ObjectStore.get: hashing on a worker needs the codec worker pool');
        const hash = options.hash ? { hash: options.hash } : {};
        return pool.decode(stored, { id, verify, file, ...expected, ...hash, lend: lender !== undefined });
      }
      if (pool) return pool.decode(stored, { id, verify, file, ...expected });
      return decodeObject(stored, { ...(verify ? { expectedId: id } : { id }), file, ...expected });
    });
  }

  /**
   * Reads an object's stored bytes (for uploading), verifying their SHA-256; errors as {@link ObjectStore.get}.
   *
   * @example
   * await upload(id, await store.readStored(id));
   */
  async readStored(id: ObjectId): Promise<Uint8Array> {
    const file = this.pathOf(id);
    return this.limiter.run(async () => {
      const stored = await this.readFileOf(id, file);
      const actual = computeObjectId(stored);
      if (actual !== id) {
        throw new StoreError('STORE_CORRUPT', `object ${id} (${file}): SHA-256 of the stored bytes is ${actual}`, {
          file,
        });
      }
      return stored;
    });
  }

  /** Whether object `id` is present (not verified). */
  async has(id: ObjectId): Promise<boolean> {
    return (await this.statObject(id)) !== undefined;
  }

  /** The stored size of object `id`, or `undefined` if it is absent. */
  async statObject(id: ObjectId): Promise<{ storedBytes: number } | undefined> {
    const file = this.pathOf(id);
    try {
      const info = await stat(file);
      return info.isFile() ? { storedBytes: info.size } : undefined;
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      throw storeIoError('stat', file, error);
    }
  }

  /**
   * Marks object `id` as in use now (sets its mtime), so that a gc running concurrently keeps it for another
   * grace period (see lock.ts). Call it before reusing an object found through the content index. Returns
   * false if the object is absent (then store it again).
   */
  async touchObject(id: ObjectId): Promise<boolean> {
    const file = this.pathOf(id);
    const now = new Date();
    try {
      await utimes(file, now, now);
      return true;
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return false;
      throw storeIoError('touch', file, error);
    }
  }

  /**
   * Every object in the store, in no particular order. Temp files, stray files and names that are not 64 hex
   * digits in their right fan-out directory are skipped.
   *
   * @example
   * for await (const { id, storedBytes, mtimeMs } of store.listObjects()) console.log(id, storedBytes);
   */
  async *listObjects(): AsyncGenerator<StoredObjectInfo> {
    for (const aa of await this.listDir(this.objectsDir, HEX2)) {
      const dirA = join(this.objectsDir, aa);
      for (const bb of await this.listDir(dirA, HEX2)) {
        const dirB = join(dirA, bb);
        for (const name of await this.listDir(dirB)) {
          const id = parseObjectId(name);
          if (id === undefined || !id.startsWith(aa + bb)) continue;
          const file = join(dirB, name);
          let info: Stats;
          try {
            info = await stat(file);
          } catch (error) {
            if (errorCode(error) === 'ENOENT') continue; // deleted while we listed
            throw storeIoError('stat', file, error);
          }
          if (info.isFile()) yield { id, storedBytes: info.size, mtimeMs: info.mtimeMs };
        }
      }
    }
  }

  /**
   * Deletes object `id`; returns whether this call deleted it. With `unlessModifiedAfterMs` (gc's cutoff, see
   * lock.ts) the mtime is read again just before unlinking and an object modified after it is kept: a writer
   * reused it after gc listed it.
   */
  async deleteObject(id: ObjectId, options: { unlessModifiedAfterMs?: number } = {}): Promise<boolean> {
    const file = this.pathOf(id);
    try {
      if (options.unlessModifiedAfterMs !== undefined) {
        const info = await stat(file);
        if (info.mtimeMs > options.unlessModifiedAfterMs) return false;
      }
      await unlink(file);
      return true;
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return false;
      throw storeIoError('delete', file, error);
    }
  }

  /** The sum of all objects' stored sizes. */
  async totalStoredBytes(): Promise<number> {
    let total = 0;
    for await (const object of this.listObjects()) total += object.storedBytes;
    return total;
  }

  /**
   * Removes temp files left by crashed writers that are older than `olderThanMs` (an absolute time).
   * Returns how many were removed.
   */
  async removeStaleTempFiles(olderThanMs: number): Promise<number> {
    let removed = 0;
    for (const name of await this.listDir(this.tempDir)) {
      if (!name.endsWith(TEMP_SUFFIX)) continue;
      const file = join(this.tempDir, name);
      try {
        if ((await stat(file)).mtimeMs < olderThanMs) {
          await unlink(file);
          removed++;
        }
      } catch (error) {
        if (errorCode(error) !== 'ENOENT') throw storeIoError('delete', file, error);
      }
    }
    return removed;
  }

  /** Writes `stored` under `id` unless a file of that size is there; returns whether this call wrote it. */
  private async writeStored(id: ObjectId, stored: Uint8Array, deferDirs = false): Promise<boolean> {
    const inFlight = this.writing.get(id);
    if (inFlight !== undefined) {
      await inFlight;
      return false;
    }
    const write = this.writeStoredOnce(id, stored, deferDirs);
    this.writing.set(id, write);
    try {
      return await write;
    } finally {
      this.writing.delete(id);
    }
  }

  private async writeStoredOnce(id: ObjectId, stored: Uint8Array, deferDirs = false): Promise<boolean> {
    const file = this.pathOf(id);
    // An object of the right size is taken as present (reads verify it); refreshing its mtime keeps a
    // concurrent gc from deleting it now that a new writer relies on it. A wrong size is a damaged copy, and
    // a copy we may not touch (another user's file) is rewritten instead, as git does: replace it.
    if ((await this.statObject(id))?.storedBytes === stored.length) {
      const touched = await this.touchObject(id).catch(() => false);
      if (touched) return false;
    }
    try {
      await writeFileAtomic(file, stored, {
        tempDir: this.tempDir,
        durable: this.durable,
        ...(deferDirs ? { deferDirectorySync: (dir: string) => this.dirtyDirs.add(dir) } : {}),
      });
    } catch (error) {
      // Windows refuses to rename over a file another process holds open; same name means same bytes.
      if ((await this.statObject(id))?.storedBytes === stored.length) return false;
      throw storeIoError('write', file, error);
    }
    return true;
  }

  /** An object file's bytes; in a slot lent by `lender` when it fits one. */
  private async readFileOf(id: ObjectId, file: string, lender?: CodecPool): Promise<Uint8Array> {
    try {
      if (!lender) return await readFile(file);
      const handle = await open(file, 'r');
      try {
        const { size } = await handle.stat();
        const into = lender.takeSlot(size);
        if (!into) return await handle.readFile();
        let at = 0;
        while (at < size) {
          const { bytesRead } = await handle.read(into, at, size - at, at);
          if (bytesRead === 0) break;
          at += bytesRead;
        }
        // A file that shrank while being read: what was read is checked (and fails) like any damaged object.
        return into.subarray(0, at);
      } finally {
        await handle.close();
      }
    } catch (error) {
      if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') {
        throw new StoreError('STORE_MISSING', `object ${id} is not in the store (${file}); fetch it from a remote`, {
          file,
          cause: error,
        });
      }
      throw storeIoError('read', file, error);
    }
  }

  private async listDir(dir: string, pattern?: RegExp): Promise<string[]> {
    try {
      const names = await readdir(dir);
      return pattern === undefined ? names : names.filter((name) => pattern.test(name));
    } catch (error) {
      if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return [];
      throw storeIoError('list', dir, error);
    }
  }
}

function checkId(id: string): void {
  if (parseObjectId(id) === undefined) throw new RangeError(`not an object id (64 lowercase hex digits): "${id}"`);
}

/** A counting semaphore: at most `limit` tasks run at once, the rest wait in FIFO order. */
class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next === undefined) this.active--;
      else next();
    }
  }
}
