// `smudge` (git checkout): rebuilds a checkpoint byte for byte from its manifest and the store, verifying every
// object (SHA-256 of its stored bytes) and every tensor (its content id). Streams; reads objects ahead in parallel.

import { StoreError } from '../errors.js';
import {
  listManifestFrameRanges,
  looksLikeManifest,
  type Manifest,
  type ObjectRef,
  parseManifest,
} from '../manifest/manifest.js';
import { CodecPool } from '../store/codec-pool.js';
import type { ObjectStore } from '../store/object-store.js';
import { beginTensorHash } from './hash-pool.js';
import { zeroPieces } from './partial.js';
import { decodeTensorBytes, type KeyframeSource, parentLookupOf } from './tensor-decode.js';

/** Objects decoded ahead of the one being written: parallel decompression on both cores, bounded memory. */
const READ_AHEAD = 8;

/**
 * Tensors at least this big are hashed on the codec worker that decodes them (no copy, no hop through this
 * thread); smaller ones share pack objects with other tensors and are hashed here.
 */
const WORKER_HASH_MIN_BYTES = 1024 * 1024;
/** Tensors streamed to git ahead of their content-id check, at most (the check runs on the codec threads). */
const MAX_UNVERIFIED_TENSORS = 16;

/** A reference to read, and the running hash (on a codec worker) its bytes feed, if any. */
interface LoadRef {
  ref: ObjectRef;
  hash?: { session: number; index: number };
}

/** Decodes a sequence of object references in order, reading ahead; repeated objects are decoded once. */
class RefLoader {
  private next = 0;
  private readonly pending = new Map<string, { promise: Promise<Uint8Array>; uses: number }>();
  private started = 0;

  constructor(
    private readonly store: ObjectStore,
    private readonly refs: readonly LoadRef[],
    /** Hash-check each object; skipped for tensors, whose content ids are checked over the decoded bytes. */
    private readonly verify: boolean,
  ) {}

  /** Pieces fed to a worker's hash are decoded for that piece alone (the worker hashes each decode once). */
  private keyOf(r: LoadRef): string {
    return r.hash ? `${r.ref.id}#${r.hash.session}.${r.hash.index}` : r.ref.id;
  }

  private start(upTo: number): void {
    while (this.started < Math.min(upTo, this.refs.length)) {
      const r = this.refs[this.started++]!;
      const key = this.keyOf(r);
      const entry = this.pending.get(key);
      if (entry) entry.uses++;
      else {
        const { ref } = r;
        // A piece of a worker-hashed tensor is decoded for that piece alone and used once: it is read and decoded
        // in recycled memory, which the writer gives back (CodecPool.release) once git has the bytes.
        const promise = this.store.get(ref.id, {
          verify: this.verify,
          ...(r.hash ? { hash: { ...r.hash, start: ref.start ?? 0, end: ref.end ?? -1 }, lend: true } : {}),
        });
        promise.catch(() => {}); // surfaced when awaited
        this.pending.set(key, { promise, uses: 1 });
      }
    }
  }

  /** The bytes of the next reference (its range of the object). */
  async take(): Promise<Uint8Array> {
    const r = this.refs[this.next++];
    if (!r) throw new RangeError('RefLoader: no more references');
    const { ref } = r;
    this.start(this.next + READ_AHEAD);
    const key = this.keyOf(r);
    const entry = this.pending.get(key)!;
    const bytes = await entry.promise;
    if (--entry.uses === 0) this.pending.delete(key);
    if (ref.start === undefined || ref.end === undefined) return bytes;
    if (ref.end > bytes.length) {
      throw new StoreError(
        'STORE_CORRUPT',
        `object ${ref.id} holds ${bytes.length} bytes, a manifest needs ${ref.end}`,
      );
    }
    return bytes.subarray(ref.start, ref.end);
  }
}

/** Reads the frame as one byte stream over its objects. */
class FrameReader {
  private current: Uint8Array = new Uint8Array(0);
  private readonly loader: RefLoader;
  constructor(store: ObjectStore, manifest: Manifest) {
    this.loader = new RefLoader(
      store,
      manifest.frames.flatMap((f) => f.refs.map((ref) => ({ ref }))),
      true,
    );
  }
  async *take(n: number, fileName: string): AsyncGenerator<Uint8Array> {
    let left = n;
    while (left > 0) {
      if (this.current.length === 0) {
        try {
          this.current = await this.loader.take();
        } catch (e) {
          if (e instanceof RangeError) {
            throw new StoreError('STORE_CORRUPT', `${fileName}: the manifest's frame is shorter than it says`, {
              file: fileName,
            });
          }
          throw e;
        }
      }
      const part = this.current.subarray(0, Math.min(left, this.current.length));
      this.current = this.current.subarray(part.length);
      left -= part.length;
      yield part;
    }
  }
}

export interface SmudgeOptions {
  store: ObjectStore;
  /** Path of the file in the repository, for messages. */
  pathname: string;
  /** What git has: normally a manifest; anything else is passed through unchanged. */
  input: Uint8Array;
  /** Keyframe overrides (`repo.keyframes`, written by `weft repack`): chains end at the nearest one. */
  keyframes?: KeyframeSource;
  /** Partial checkout (partial.ts): tensors written as zeros, unchecked (not selected, not in the store). */
  zeroFill?: ReadonlySet<string>;
}

/**
 * Rebuilds the file a manifest describes, streaming its bytes. Throws StoreError naming the file and tensor
 * when an object is missing or corrupt, or a tensor does not match its content id.
 * @example for await (const bytes of smudgeFile({ store, pathname, input })) out.write(bytes);
 */
export async function* smudgeFile(options: SmudgeOptions): AsyncGenerator<Uint8Array> {
  const { store, pathname, input } = options;
  if (!looksLikeManifest(input)) {
    yield input;
    return;
  }
  const manifest = parseManifest(new TextDecoder('utf-8', { fatal: true }).decode(input), pathname);
  yield* rebuildFromManifest(store, manifest, pathname, options.keyframes, options.zeroFill);
}

/** The bytes of the file a parsed manifest describes, in order, verified. */
export async function* rebuildFromManifest(
  store: ObjectStore,
  manifest: Manifest,
  pathname: string,
  keyframes?: KeyframeSource,
  zeroFill?: ReadonlySet<string>,
): AsyncGenerator<Uint8Array> {
  const frame = new FrameReader(store, manifest);
  const pool = CodecPool.shared();
  const sessions = new Map<number, number>(); // tensor index → hash session on a codec worker
  const loader = new RefLoader(
    store,
    manifest.tensors.flatMap((t, i) => {
      if (t.encoding.kind !== 'dense' || zeroFill?.has(t.name)) return [];
      if (!pool || t.sizeBytes < WORKER_HASH_MIN_BYTES) return t.encoding.refs.map((ref) => ({ ref }));
      const session = pool.beginHash();
      sessions.set(i, session);
      return t.encoding.refs.map((ref, index) => ({ ref, hash: { session, index } }));
    }),
    false,
  );
  const parents = parentLookupOf(manifest);
  const frameRanges = listManifestFrameRanges(manifest);
  let fi = 0;
  let at = 0;
  const emitFrameUpTo = async function* (offset: number) {
    while (fi < frameRanges.length && frameRanges[fi]!.offsetBytes === at && at < offset) {
      const r = frameRanges[fi++]!;
      yield* frame.take(r.sizeBytes, pathname);
      at += r.sizeBytes;
    }
  };
  /** Content-id checks still running, oldest first. */
  const unverified: Promise<void>[] = [];
  for (const [ti, t] of manifest.tensors.entries()) {
    yield* emitFrameUpTo(t.offsetBytes);
    const session = sessions.get(ti);
    // Partial checkout (partial.ts): a tensor that is not materialised is zeros of its size, with no content check.
    if (zeroFill?.has(t.name)) {
      yield* zeroPieces(t.sizeBytes);
      at += t.sizeBytes;
      continue;
    }
    // Hashing runs on the hash workers over copies (a memory copy costs a small fraction of a SHA-256), so this
    // thread keeps feeding git while the content id is checked in parallel.
    let hash: ReturnType<typeof beginTensorHash> | undefined;
    const hashed: Promise<Uint8Array>[] = [];
    const hashCopy = (bytes: Uint8Array) => {
      hash ??= beginTensorHash();
      const p = hash.update(new Uint8Array(bytes));
      p.catch(() => {}); // awaited below; an early error must not leave it unhandled
      hashed.push(p);
    };
    let got = 0;
    try {
      if (t.encoding.kind !== 'dense') {
        const bytes = await decodeTensorBytes({
          store,
          encoding: t.encoding,
          sizeBytes: t.sizeBytes,
          dtype: t.dtype,
          parents,
          what: `${pathname}: tensor ${JSON.stringify(t.name)}`,
          ...(keyframes ? { keyframes, contentId: t.contentId } : {}),
        });
        hashCopy(bytes);
        got = bytes.length;
        if (got === t.sizeBytes) yield bytes;
      }
      for (let i = 0; t.encoding.kind === 'dense' && i < t.encoding.refs.length; i++) {
        const bytes = await loader.take();
        if (session === undefined) hashCopy(bytes);
        got += bytes.length;
        if (got > t.sizeBytes) break;
        yield bytes;
      }
    } catch (e) {
      if (e instanceof StoreError && !e.message.startsWith(pathname)) {
        throw new StoreError(e.code, `${pathname}: tensor ${JSON.stringify(t.name)}: ${e.message}`, {
          file: pathname,
          tensor: t.name,
          cause: e,
        });
      }
      throw e;
    }
    // The content id is checked while the next tensors stream: a digest is answered only once its worker is done
    // with the decodes queued before it (the read-ahead), and waiting for it here stalled the output at every
    // tensor. git writes nothing before the whole file has come with a success status, and a mismatch found
    // later still ends the response with an error, before the last byte.
    const tensorHash = hash;
    const verified = (async () => {
      await Promise.all(hashed);
      const digest =
        session === undefined ? await (tensorHash ?? beginTensorHash()).digest() : await pool!.digest(session);
      if (got !== t.sizeBytes || digest !== t.contentId) {
        throw new StoreError(
          'STORE_CORRUPT',
          `${pathname}: tensor ${JSON.stringify(t.name)} does not match its content id ${t.contentId.slice(0, 12)}…; run 'weft fsck'`,
          { file: pathname, tensor: t.name },
        );
      }
    })();
    verified.catch(() => {}); // awaited below, in order
    unverified.push(verified);
    while (unverified.length > MAX_UNVERIFIED_TENSORS) await unverified.shift();
    at += t.sizeBytes;
  }
  for (const verified of unverified) await verified;
  yield* emitFrameUpTo(Number.MAX_SAFE_INTEGER);
}
