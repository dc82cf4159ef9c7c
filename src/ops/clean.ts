// `clean` (git add): turns a checkpoint streamed by git into a manifest, storing each tensor that the store does
// not already hold. Streams tensor by tensor; a manifest passes through unchanged; any file that is not a
// recognised checkpoint is still stored exactly (content-defined chunks).

import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { FormatError } from '../errors.js';
import type { Checkpoint } from '../formats/format-module.js';
import { detectFormat } from '../formats/registry.js';
import {
  type ContentId,
  type FrameEntry,
  looksLikeManifest,
  MAX_MANIFEST_BYTES,
  type Manifest,
  type ManifestTensor,
  type ObjectRef,
  parseEncoding,
  parseManifest,
  printEncoding,
  printManifest,
} from '../manifest/manifest.js';
import { Chunker } from '../store/cdc.js';
import type { GroupWidth } from '../store/object-codec.js';
import { dtypeSize } from '../tensor/dtype.js';
import { ByteStream, concatBytes } from './byte-stream.js';
import { openFileSource, streamRange } from './file-source.js';
import { NeedsWholeFile, PrefixSource, StreamShorterThanSize } from './prefix-source.js';
import type { Repo } from './repo.js';

/** Raw bytes per object for a large tensor: bounded memory per object, parallel work on both cores. */
export const TENSOR_CHUNK_BYTES = 16 * 1024 * 1024;
/** Tensors smaller than this are packed together so a model is not thousands of tiny objects. */
export const SMALL_TENSOR_BYTES = 1024 * 1024;
/** A pack of small tensors is stored once it holds this many bytes. */
const PACK_BYTES = 8 * 1024 * 1024;
/**
 * A tensor up to this size is held in memory until its content id is known, so an unchanged tensor costs a hash
 * and nothing more; larger ones are compressed as they stream (an unchanged one then dedups by object id).
 */
const HOLD_BYTES = 128 * 1024 * 1024;
/** Headers are read from memory up to this size; formats with their index at the end are spooled to disk. */
const PREFIX_LIMIT_BYTES = 64 * 1024 * 1024;
/** Compressions in flight at once (memory bound: each holds a chunk and its output). */
const MAX_IN_FLIGHT = 4;

export interface CleanOptions {
  repo: Repo;
  /** Path of the file in the repository, for messages and the size hint. */
  pathname: string;
  content: AsyncIterable<Uint8Array>;
  /** The size the stream is expected to have (the work-tree file's); absent → the stream is spooled to disk. */
  sizeHint?: number;
  /** One-line notices for the user (a file stored as opaque bytes, …). */
  warn?: (message: string) => void;
}

export interface CleanResult {
  /** The manifest text (or the input itself when it already was a manifest). */
  output: Uint8Array;
  manifest?: Manifest;
  /** Bytes added to the store by this clean. */
  storedBytes: number;
}

const ENCODER = new TextEncoder();

/** Runs at most `limit` async jobs at once; `flush` waits for all. */
class JobQueue {
  private readonly running = new Set<Promise<void>>();
  private error: unknown;
  constructor(private readonly limit: number) {}
  async add(job: () => Promise<void>): Promise<void> {
    while (this.running.size >= this.limit) await Promise.race(this.running);
    if (this.error !== undefined) throw this.error;
    const p: Promise<void> = job()
      .catch((e: unknown) => {
        this.error ??= e;
      })
      .finally(() => this.running.delete(p));
    this.running.add(p);
  }
  async flush(): Promise<void> {
    await Promise.all(this.running);
    if (this.error !== undefined) throw this.error;
  }
}

function groupWidthOf(size: number): GroupWidth {
  return size === 2 || size === 4 || size === 8 ? size : 1;
}

/** Writes manifests and objects for one file being cleaned. */
class Cleaner {
  storedBytes = 0;
  private readonly queue = new JobQueue(MAX_IN_FLIGHT);
  private readonly packs = new Map<GroupWidth, { parts: Uint8Array[]; bytes: number; members: ManifestTensor[] }>();

  constructor(private readonly repo: Repo) {}

  private async put(raw: Uint8Array, width: GroupWidth): Promise<ObjectRef> {
    const r = await this.repo.store.put(raw, { groupWidth: width });
    if (r.written) this.storedBytes += r.storedBytes;
    return { id: r.id };
  }

  /** Stores `raw` in the background; `assign` receives its reference. */
  async putLater(raw: Uint8Array, width: GroupWidth, assign: (ref: ObjectRef) => void): Promise<void> {
    await this.queue.add(async () => assign(await this.put(raw, width)));
  }

  /** Stores the frame bytes as content-defined chunks (one frame line per chunk). */
  async storeFrame(bytes: AsyncIterable<Uint8Array>): Promise<FrameEntry[]> {
    const frames: FrameEntry[] = [];
    const chunker = new Chunker();
    const emit = async (chunk: Uint8Array) => {
      const entry: FrameEntry = { sizeBytes: chunk.length, refs: [] };
      frames.push(entry);
      await this.putLater(chunk, 1, (ref) => entry.refs.push(ref));
    };
    for await (const part of bytes) for (const c of chunker.push(part)) await emit(c);
    for (const c of chunker.finish()) await emit(c);
    return frames;
  }

  /** Looks a content id up in the index; the location is reused only if every object it names is present. */
  async lookup(contentId: ContentId, sizeBytes: number): Promise<ManifestTensor['encoding'] | undefined> {
    const text = await this.repo.contentIndex.lookup(contentId);
    if (text === undefined) return undefined;
    const enc = parseEncoding(text);
    if (!enc || (enc.kind === 'dense' && !denseHolds(enc.refs, sizeBytes))) return undefined;
    // Touching refreshes the mtime, so a concurrent gc (which spares recent objects) keeps what is reused.
    for (const r of enc.refs) if (!(await this.repo.store.touchObject(r.id))) return undefined;
    return enc;
  }

  /** Adds a small tensor to the pack of its element width. */
  async addToPack(tensor: ManifestTensor, bytes: Uint8Array): Promise<void> {
    const width = groupWidthOf(dtypeSize(tensor.dtype));
    let pack = this.packs.get(width);
    if (!pack) {
      pack = { parts: [], bytes: 0, members: [] };
      this.packs.set(width, pack);
    }
    pack.parts.push(bytes);
    pack.bytes += bytes.length;
    pack.members.push(tensor);
    if (pack.bytes >= PACK_BYTES) await this.flushPack(width);
  }

  private async flushPack(width: GroupWidth): Promise<void> {
    const pack = this.packs.get(width);
    if (!pack || pack.members.length === 0) return;
    this.packs.delete(width);
    const raw = concatBytes(pack.parts);
    await this.putLater(raw, width, (ref) => {
      let at = 0;
      for (const t of pack.members) {
        t.encoding.refs = [{ id: ref.id, start: at, end: at + t.sizeBytes }];
        at += t.sizeBytes;
      }
    });
  }

  async finish(tensors: readonly ManifestTensor[]): Promise<void> {
    for (const w of [...this.packs.keys()]) await this.flushPack(w);
    await this.queue.flush();
    for (const t of tensors) await this.repo.contentIndex.record(t.contentId, printEncoding(t.encoding));
  }
}

function denseHolds(refs: readonly ObjectRef[], sizeBytes: number): boolean {
  if (sizeBytes === 0) return refs.length === 0;
  return refs.length > 0;
}

/** Yields exactly `n` bytes of the stream in pieces; throws when it ends early. */
async function* take(stream: ByteStream, n: number, fileName: string): AsyncGenerator<Uint8Array> {
  let left = n;
  while (left > 0) {
    const part = await stream.next(Math.min(left, TENSOR_CHUNK_BYTES));
    if (part.length === 0) {
      throw new FormatError(
        'FORMAT_TRUNCATED',
        `${fileName}: the file changed while it was being added; add it again`,
        {
          file: fileName,
        },
      );
    }
    left -= part.length;
    yield part;
  }
}

/** Stores one tensor's bytes (streamed) and returns its manifest line. */
async function cleanTensor(
  cleaner: Cleaner,
  stream: ByteStream,
  extent: Checkpoint['extents'][number],
  fileName: string,
): Promise<ManifestTensor> {
  const hash = createHash('sha256');
  const width = groupWidthOf(dtypeSize(extent.dtype));
  const tensor: ManifestTensor = {
    name: extent.name,
    dtype: extent.dtype,
    shape: [...extent.shape],
    offsetBytes: extent.offsetBytes,
    sizeBytes: extent.sizeBytes,
    contentId: '' as ContentId,
    encoding: { kind: 'dense', params: {}, refs: [] },
  };
  // Chunks are TENSOR_CHUNK_BYTES of the tensor (a multiple of every element size).
  const chunks: Uint8Array[] = [];
  const refs: (ObjectRef | undefined)[] = [];
  let current: Uint8Array | undefined;
  let filled = 0;
  let received = 0;
  let chunkCount = 0;
  let streaming = extent.sizeBytes > HOLD_BYTES; // compress as we go: too big to hold until the hash is known
  const flushChunk = async (index: number, bytes: Uint8Array) => {
    await cleaner.putLater(bytes, width, (ref) => {
      refs[index] = ref;
    });
  };
  for await (const part of take(stream, extent.sizeBytes, fileName)) {
    hash.update(part);
    let at = 0;
    while (at < part.length) {
      if (!current) {
        current = new Uint8Array(Math.min(TENSOR_CHUNK_BYTES, extent.sizeBytes - received - at));
        filled = 0;
      }
      const n = Math.min(current.length - filled, part.length - at);
      current.set(part.subarray(at, at + n), filled);
      filled += n;
      at += n;
      if (filled === current.length) {
        if (streaming) await flushChunk(chunkCount, current);
        else chunks.push(current);
        chunkCount++;
        current = undefined;
      }
    }
    received += part.length;
  }
  tensor.contentId = hash.digest('hex') as ContentId;
  const known = await cleaner.lookup(tensor.contentId, tensor.sizeBytes);
  if (known) {
    tensor.encoding = known;
    return tensor;
  }
  if (!streaming && tensor.sizeBytes < SMALL_TENSOR_BYTES) {
    if (tensor.sizeBytes > 0) await cleaner.addToPack(tensor, chunks.length === 1 ? chunks[0]! : concatBytes(chunks));
    return tensor;
  }
  if (!streaming) {
    streaming = true;
    for (let i = 0; i < chunks.length; i++) await flushChunk(i, chunks[i]!);
  }
  tensor.encoding.refs = refs as ObjectRef[]; // filled in by the queue before finish() returns
  return tensor;
}

/** Cleans a parsed checkpoint whose bytes come from `stream` starting at offset 0. */
async function cleanCheckpointStream(
  repo: Repo,
  stream: ByteStream,
  checkpoint: Checkpoint,
  fileName: string,
): Promise<{ manifest: Manifest; storedBytes: number }> {
  const cleaner = new Cleaner(repo);
  const tensors: ManifestTensor[] = [];
  const frameParts: Uint8Array[] = [];
  let at = 0;
  for (const extent of checkpoint.extents) {
    if (extent.offsetBytes > at) {
      frameParts.push(await readExact(stream, extent.offsetBytes - at, fileName));
    }
    tensors.push(await cleanTensor(cleaner, stream, extent, fileName));
    at = extent.offsetBytes + extent.sizeBytes;
  }
  if (checkpoint.sizeBytes > at) frameParts.push(await readExact(stream, checkpoint.sizeBytes - at, fileName));
  if (!(await stream.atEnd())) {
    throw new FormatError(
      'FORMAT_TRAILING_BYTES',
      `${fileName}: the file changed while it was being added; add it again`,
      {
        file: fileName,
      },
    );
  }
  const frames = await cleaner.storeFrame(
    (async function* () {
      yield* frameParts;
    })(),
  );
  await cleaner.finish(tensors);
  return {
    manifest: { format: checkpoint.format, sizeBytes: checkpoint.sizeBytes, frames, tensors },
    storedBytes: cleaner.storedBytes,
  };
}

async function readExact(stream: ByteStream, n: number, fileName: string): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of take(stream, n, fileName)) parts.push(p.slice());
  return parts.length === 1 ? parts[0]! : concatBytes(parts);
}

/** Cleans any bytes as an opaque file: content-defined chunks, one frame line each. */
async function cleanOpaque(repo: Repo, stream: ByteStream): Promise<{ manifest: Manifest; storedBytes: number }> {
  const cleaner = new Cleaner(repo);
  let size = 0;
  const frames = await cleaner.storeFrame(
    (async function* () {
      for (;;) {
        const part = await stream.next(TENSOR_CHUNK_BYTES);
        if (part.length === 0) return;
        size += part.length;
        yield part.slice();
      }
    })(),
  );
  await cleaner.finish([]);
  return { manifest: { format: 'opaque', sizeBytes: size, frames, tensors: [] }, storedBytes: cleaner.storedBytes };
}

/**
 * Cleans one file streamed by git: returns the manifest to store in git.
 * @example const { output } = await cleanFile({ repo, pathname: 'model.safetensors', content, sizeHint });
 */
export async function cleanFile(options: CleanOptions): Promise<CleanResult> {
  const { repo, pathname } = options;
  const stream = new ByteStream(options.content);
  const head = await stream.read(64);
  stream.unshift(head);
  if (looksLikeManifest(head)) {
    const text = await stream.read(MAX_MANIFEST_BYTES + 1);
    if (text.length <= MAX_MANIFEST_BYTES) {
      try {
        const manifest = parseManifest(new TextDecoder('utf-8', { fatal: true }).decode(text), pathname);
        return { output: text, manifest, storedBytes: 0 };
      } catch {
        // Not a valid manifest after all: store its bytes like any other file.
      }
    }
    stream.unshift(text);
  }
  const module = detectFormat(head, options.sizeHint ?? Number.MAX_SAFE_INTEGER);
  let result: { manifest: Manifest; storedBytes: number } | undefined;
  if (module && options.sizeHint !== undefined) {
    const prefix = new PrefixSource(stream, options.sizeHint, PREFIX_LIMIT_BYTES);
    let checkpoint: Checkpoint | undefined;
    let spool = false;
    try {
      checkpoint = await module.parse(prefix, { fileName: pathname });
    } catch (e) {
      if (e instanceof NeedsWholeFile || e instanceof StreamShorterThanSize) spool = true;
      else if (e instanceof FormatError) options.warn?.(`${e.message}; storing it as opaque bytes`);
      else throw e;
    }
    prefix.release();
    if (checkpoint) result = await cleanCheckpointStream(repo, stream, checkpoint, pathname);
    else if (spool) result = await cleanSpooled(options, stream, module);
  } else if (module) {
    result = await cleanSpooled(options, stream, module);
  }
  result ??= await cleanOpaque(repo, stream);
  const output = ENCODER.encode(printManifest(result.manifest));
  return { output, manifest: result.manifest, storedBytes: result.storedBytes };
}

/** Writes the stream to a temp file, parses it from there, and cleans it (formats with their index at the end). */
async function cleanSpooled(
  options: CleanOptions,
  stream: ByteStream,
  module: NonNullable<ReturnType<typeof detectFormat>>,
): Promise<{ manifest: Manifest; storedBytes: number }> {
  const dir = join(options.repo.weftDir, 'tmp');
  await mkdir(dir, { recursive: true });
  const path = join(dir, `spool-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  try {
    const out = createWriteStream(path);
    for (;;) {
      const part = await stream.next(TENSOR_CHUNK_BYTES);
      if (part.length === 0) break;
      if (!out.write(part)) await new Promise<void>((r) => out.once('drain', () => r()));
    }
    await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
    const source = await openFileSource(path);
    try {
      const fromFile = () => new ByteStream(streamRange(source, 0, source.sizeBytes));
      let checkpoint: Checkpoint | undefined;
      try {
        checkpoint = await module.parse(source, { fileName: options.pathname });
      } catch (e) {
        if (!(e instanceof FormatError)) throw e;
        options.warn?.(`${e.message}; storing it as opaque bytes`);
      }
      return checkpoint
        ? await cleanCheckpointStream(options.repo, fromFile(), checkpoint, options.pathname)
        : await cleanOpaque(options.repo, fromFile());
    } finally {
      await source.close();
    }
  } finally {
    await rm(path, { force: true });
  }
}
