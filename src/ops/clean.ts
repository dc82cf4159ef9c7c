// `clean` (git add): turns a checkpoint streamed by git into a manifest, storing each tensor that the store does
// not already hold. Streams tensor by tensor; a manifest passes through unchanged; any file that is not a
// recognised checkpoint is still stored exactly (content-defined chunks).

import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type EncodedUpdate,
  encodeDelta,
  encodeLowRank,
  isPredictableDtype,
  xorInto,
} from '../encode/update-encoding.js';
import { FormatError, StoreError } from '../errors.js';
import type { Checkpoint } from '../formats/format-module.js';
import { DETECT_HEAD_BYTES, detectFormat } from '../formats/registry.js';
import {
  type ContentId,
  type FrameEntry,
  listEncodingRefs,
  looksLikeManifest,
  MAX_MANIFEST_BYTES,
  type Manifest,
  type ManifestParent,
  type ManifestTensor,
  type ObjectRef,
  parseEncoding,
  parseManifest,
  printEncoding,
  printManifest,
  printRefs,
  type TensorEncoding,
} from '../manifest/manifest.js';
import { Chunker } from '../store/cdc.js';
import { encodeObjectSync, type GroupWidth } from '../store/object-codec.js';
import { decodeToF32 } from '../tensor/convert.js';
import { dtypeSize } from '../tensor/dtype.js';
import { estimateLowRanks, randomizedSvd, refitLeftWeighted, roundMantissa } from '../tensor/linalg.js';
import { ByteStream, concatBytes } from './byte-stream.js';
import { openFileSource, streamRange } from './file-source.js';
import { beginTensorHash } from './hash-pool.js';
import { NeedsWholeFile, PrefixSource, StreamShorterThanSize } from './prefix-source.js';
import type { Repo } from './repo.js';
import { findSiblingFormat } from './sibling-formats.js';
import {
  chainDepthOf,
  DEFAULT_MAX_CHAIN,
  decodeTensorBytes,
  MAX_DECODE_DEPTH,
  type ParentLookup,
  parentLookupOf,
} from './tensor-decode.js';

/** Raw bytes per object for a large tensor: bounded memory per object, parallel work on both cores. */
export const TENSOR_CHUNK_BYTES = 8 * 1024 * 1024;
/** Tensors smaller than this are packed together so a model is not thousands of tiny objects. */
export const SMALL_TENSOR_BYTES = 1024 * 1024;
/** A pack of small tensors is stored once it holds this many bytes. */
const PACK_BYTES = 8 * 1024 * 1024;
/**
 * A tensor up to this size is held in memory until its content id is known, so an unchanged tensor costs a hash
 * and nothing more; larger ones are compressed as they stream (an unchanged one then dedups by object id).
 */
const HOLD_BYTES = 64 * 1024 * 1024;
/** Headers are read from memory up to this size; formats with their index at the end are spooled to disk. */
const PREFIX_LIMIT_BYTES = 64 * 1024 * 1024;
/** Compressions in flight at once (memory bound: each holds a chunk and its output). */
const MAX_IN_FLIGHT = 3;

export interface CleanOptions {
  repo: Repo;
  /** Path of the file in the repository, for messages and the size hint. */
  pathname: string;
  content: AsyncIterable<Uint8Array>;
  /** The size the stream is expected to have (the work-tree file's); absent → the stream is spooled to disk. */
  sizeHint?: number;
  /** One-line notices for the user (a file stored as opaque bytes, …). */
  warn?: (message: string) => void;
  /** Takes back content buffers clean no longer needs (a tensor the store already holds). */
  recycle?: (buffer: ArrayBuffer) => void;
  /**
   * The previous version of this path (index or HEAD): its tensors are the parents of update encodings. This and
   * the two settings below may be promises: the content is read (and hashed) while they are looked up.
   */
  previous?: Manifest | Promise<Manifest | undefined>;
  /** Longest chain of parent links an encoding may need (a dense keyframe is stored instead). Default 8. */
  maxChain?: number | Promise<number>;
  /** Test every changed matrix for a low-rank change (default true; `[encoding] auto_low_rank = false` turns it off). */
  autoLowRank?: boolean | Promise<boolean>;
}

/** What a Cleaner decides with, besides the bytes: see CleanOptions. */
interface CleanerSetup {
  previous: Manifest | undefined;
  maxChain: number | undefined;
  autoLowRank: boolean | undefined;
}

/**
 * Least-squares weights 1/ulp² of each element of a half-precision tensor (relative to values near 1; ulps below
 * 2^-40 count as 2^-40), or undefined for other dtypes (their changes are not observed through rounding).
 */
function roundingWeights(dtype: string, bytes: Uint8Array): Float32Array | undefined {
  const layout =
    dtype === 'BF16'
      ? { shift: 7, mask: 0xff, bias: 127 }
      : dtype === 'F16'
        ? { shift: 10, mask: 0x1f, bias: 15 }
        : undefined;
  if (!layout) return undefined;
  const table = new Float32Array(layout.mask + 1);
  for (let e = 0; e <= layout.mask; e++) table[e] = 2 ** Math.min(80, 2 * (layout.bias - Math.max(e, 1)));
  const out = new Float32Array(bytes.length / 2);
  for (let i = 0; i < out.length; i++) {
    const bits = bytes[2 * i]! | (bytes[2 * i + 1]! << 8);
    out[i] = table[(bits >>> layout.shift) & layout.mask]!;
  }
  return out;
}

export { DEFAULT_MAX_CHAIN };

/** Tensors smaller than this are always stored densely (an update encoding would cost more than it saves). */
const MIN_UPDATE_BYTES = 256;
/** Rank limit of the automatic low-rank test, and the share of the change's energy it must capture. */
const AUTO_MAX_RANK = 64;
const AUTO_LOW_RANK_ENERGY = 0.99;
/**
 * Mantissa bits kept of factors inferred for a half-precision tensor (see roundMantissa): finer than their
 * estimation error, which the residual pays for anyway. Factors of an F32 change are kept whole (an exact
 * low-rank F32 change is reproduced bit for bit).
 */
const FACTOR_MANTISSA_BITS: Partial<Record<string, number>> = { BF16: 10, F16: 14 };

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

/** Slices `pieces` (in order) into groups of at most `size` bytes each; pieces are split, never copied. */
function splitPieces(pieces: readonly Uint8Array[], size: number): Uint8Array[][] {
  const out: Uint8Array[][] = [];
  let group: Uint8Array[] = [];
  let filled = 0;
  for (let p of pieces) {
    while (p.length > 0) {
      const n = Math.min(size - filled, p.length);
      group.push(p.subarray(0, n));
      filled += n;
      p = p.subarray(n);
      if (filled === size) {
        out.push(group);
        group = [];
        filled = 0;
      }
    }
  }
  if (group.length > 0) out.push(group);
  return out;
}

/** Writes manifests and objects for one file being cleaned. */
class Cleaner {
  storedBytes = 0;
  private readonly queue = new JobQueue(MAX_IN_FLIGHT);
  private readonly packs = new Map<
    GroupWidth,
    { parts: Uint8Array[]; bytes: number; members: { sizeBytes: number; assign: (refs: ObjectRef[]) => void }[] }
  >();
  /** Decisions (reuse, pack, store) are taken in file order, so manifests are deterministic. */
  private decisions: Promise<void> = Promise.resolve();
  private readonly heldBytes: { bytes: number; done: Promise<void> }[] = [];
  /** Tensors of this file by content id: a repeated tensor shares the first one's encoding. */
  private readonly byContent = new Map<string, ManifestTensor>();

  private readonly previousByName = new Map<string, ManifestTensor>();
  private previousParents: ParentLookup = () => undefined;
  private maxChain = DEFAULT_MAX_CHAIN;
  private autoLowRank = true;
  /** Resolves once the setup is known: everything that reads the fields above waits for it first. */
  private readonly ready: Promise<void>;

  constructor(
    private readonly repo: Repo,
    private readonly recycle?: (buffer: ArrayBuffer) => void,
    setup?: Promise<CleanerSetup>,
  ) {
    this.ready = (setup ?? Promise.resolve(undefined)).then((s) => {
      for (const t of s?.previous?.tensors ?? []) this.previousByName.set(t.name, t);
      if (s?.previous) this.previousParents = parentLookupOf(s.previous);
      this.maxChain = s?.maxChain ?? DEFAULT_MAX_CHAIN;
      this.autoLowRank = s?.autoLowRank ?? true;
    });
    this.ready.catch(() => {}); // surfaced through the decisions, which start with it
    this.decisions = this.ready;
  }

  /**
   * The encoding of a tensor version by content id, for parent lines: from this file, the previous version, or
   * the content index (whose entries were checked when they were reused).
   */
  private readonly resolved = new Map<string, ManifestParent>();
  async resolveParent(contentId: string, sizeBytes: number): Promise<ManifestParent | undefined> {
    await this.ready;
    const mine = this.byContent.get(contentId) ?? this.previousParents(contentId);
    if (mine) return { contentId: mine.contentId, sizeBytes: mine.sizeBytes, encoding: mine.encoding };
    const cached = this.resolved.get(contentId);
    if (cached) return cached;
    const text = await this.repo.contentIndex.lookup(contentId);
    const encoding = text === undefined ? undefined : parseEncoding(text);
    if (!encoding) return undefined;
    const parent = { contentId: contentId as ContentId, sizeBytes, encoding };
    this.resolved.set(contentId, parent);
    return parent;
  }

  /** True when every link of an encoding's parent chain resolves and every object it names is present. */
  private async chainHolds(encoding: TensorEncoding, sizeBytes: number): Promise<boolean> {
    let enc = encoding;
    for (let links = 0; enc.kind !== 'dense'; links++) {
      if (links >= MAX_DECODE_DEPTH || enc.params.parent === undefined) return false;
      const p = await this.resolveParent(enc.params.parent, sizeBytes);
      if (!p) return false;
      for (const r of listEncodingRefs(p.encoding)) if (!(await this.repo.store.touchObject(r.id))) return false;
      enc = p.encoding;
    }
    return true;
  }

  private async put(raw: Uint8Array | readonly Uint8Array[], width: GroupWidth): Promise<ObjectRef> {
    // Every buffer given to put is the cleaner's own and not used again: let it move to a worker thread.
    const r = await this.repo.store.put(raw, { groupWidth: width, transfer: true, deferDirectorySync: true });
    if (r.written) this.storedBytes += r.storedBytes;
    return { id: r.id };
  }

  /** Stores `raw` in the background; `assign` receives its reference. */
  async putLater(raw: Uint8Array | readonly Uint8Array[], width: GroupWidth, assign: (ref: ObjectRef) => void) {
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
    await this.ready;
    // The previous version first: re-adding an unchanged file (a fresh clone, a touched file) must give back the
    // committed manifest exactly, or git would see a change that is not there.
    const previous = this.previousParents(contentId);
    if (previous && previous.sizeBytes === sizeBytes) {
      const enc = await this.usable(previous.encoding, sizeBytes);
      if (enc) {
        // Whether the index knows this content: asked now, while the rest of the file streams in.
        if (!this.reusedFrom.has(contentId)) this.reusedFrom.set(contentId, this.indexHas(contentId));
        return enc;
      }
    }
    const text = await this.repo.contentIndex.lookup(contentId);
    if (text === undefined) return undefined;
    const parsed = parseEncoding(text);
    const enc = parsed ? await this.usable(parsed, sizeBytes) : undefined;
    if (enc) this.reusedFrom.set(contentId, 'index');
    return enc;
  }

  /**
   * Where {@link lookup} found the encodings it reused, by content id: 'index', or (from the previous version)
   * whether the index has an entry for it. finish() records only what is new.
   */
  private readonly reusedFrom = new Map<string, 'index' | Promise<boolean>>();

  private indexHas(contentId: string): Promise<boolean> {
    const has = this.repo.contentIndex.has(contentId);
    has.catch(() => {}); // awaited by finish()
    return has;
  }

  /** The encoding when its objects (and its parents' objects) are all in the store and its chain is short enough. */
  private async usable(enc: TensorEncoding, sizeBytes: number): Promise<TensorEncoding | undefined> {
    if (enc.kind === 'dense' && !denseHolds(enc.refs, sizeBytes)) return undefined;
    if (chainDepthOf(enc) > this.maxChain) return undefined;
    // Touching refreshes the mtime, so a concurrent gc (which spares recent objects) keeps what is reused.
    for (const r of listEncodingRefs(enc)) if (!(await this.repo.store.touchObject(r.id))) return undefined;
    if (!(await this.chainHolds(enc, sizeBytes))) return undefined;
    return enc;
  }

  /**
   * Decides, after its hash is known and in file order, how a fully received tensor is stored: reused from the
   * store, shared with an earlier tensor of this file, packed with other small tensors, or chunked.
   */
  schedule(tensor: ManifestTensor, received: Promise<Uint8Array[]>, digest: Promise<string>, width: GroupWidth): void {
    const done = this.decisions.then(async () => {
      tensor.contentId = (await digest) as ContentId;
      const pieces = await received;
      const twin = this.byContent.get(tensor.contentId);
      if (twin) {
        tensor.encoding = twin.encoding;
        return;
      }
      this.byContent.set(tensor.contentId, tensor);
      const known = await this.lookup(tensor.contentId, tensor.sizeBytes);
      if (known) {
        tensor.encoding = known;
        for (const p of pieces) {
          if (
            this.recycle &&
            p.byteOffset === 0 &&
            p.byteLength === p.buffer.byteLength &&
            p.buffer instanceof ArrayBuffer
          ) {
            this.recycle(p.buffer);
          }
        }
      } else if (tensor.sizeBytes === 0) return;
      else if (await this.encodeUpdate(tensor, pieces)) return;
      else if (tensor.sizeBytes < SMALL_TENSOR_BYTES) await this.addToPack(tensor, pieces, width);
      else {
        const refs: ObjectRef[] = [];
        tensor.encoding.refs = refs; // filled in by the queue before finish() returns
        const chunks = splitPieces(pieces, TENSOR_CHUNK_BYTES);
        for (let i = 0; i < chunks.length; i++) {
          await this.putLater(chunks[i]!, width, (ref) => {
            refs[i] = ref;
          });
        }
      }
    });
    // A failure (a bad setting, a store error) surfaces where the decisions are awaited (bound, finish): until
    // then it must not count as unhandled, which would end the process.
    done.catch(() => {});
    this.decisions = done;
    this.heldBytes.push({ bytes: tensor.sizeBytes, done });
  }

  /** Takes a streamed tensor's encoding from the store instead when its content turns out to be known. */
  adopt(tensor: ManifestTensor, known: Promise<ManifestTensor['encoding'] | undefined>): void {
    this.decisions = this.decisions.then(async () => {
      const enc = await known;
      if (enc) tensor.encoding = enc;
      if (!this.byContent.has(tensor.contentId)) this.byContent.set(tensor.contentId, tensor);
    });
    this.decisions.catch(() => {}); // surfaces in finish(), as above
  }

  /** Waits until tensors received but not yet handed to the store hold at most `limit` bytes. */
  async bound(limit: number): Promise<void> {
    let held = this.heldBytes.reduce((n, h) => n + h.bytes, 0);
    while (held > limit && this.heldBytes.length > 0) {
      const first = this.heldBytes.shift()!;
      await first.done;
      held -= first.bytes;
    }
  }

  /** Adds a small tensor to the pack of its element width. */
  private async addToPack(tensor: ManifestTensor, pieces: readonly Uint8Array[], width: GroupWidth): Promise<void> {
    await this.addPartToPack(pieces, tensor.sizeBytes, width, (refs) => {
      tensor.encoding.refs = refs;
    });
  }

  private async addPartToPack(
    pieces: readonly Uint8Array[],
    sizeBytes: number,
    width: GroupWidth,
    assign: (refs: ObjectRef[]) => void,
  ): Promise<void> {
    let pack = this.packs.get(width);
    if (!pack) {
      pack = { parts: [], bytes: 0, members: [] };
      this.packs.set(width, pack);
    }
    pack.parts.push(...pieces);
    pack.bytes += sizeBytes;
    pack.members.push({ sizeBytes, assign });
    if (pack.bytes >= PACK_BYTES) await this.flushPack(width);
  }

  /** Stores one payload (packed when small, chunked when large); `assign` receives its references. */
  private async storePart(bytes: Uint8Array, width: GroupWidth, assign: (refs: ObjectRef[]) => void): Promise<void> {
    if (bytes.length === 0) return assign([]);
    if (bytes.length < SMALL_TENSOR_BYTES) return this.addPartToPack([bytes], bytes.length, width, assign);
    const refs: ObjectRef[] = [];
    const chunks = splitPieces([bytes], TENSOR_CHUNK_BYTES);
    let left = chunks.length;
    for (let i = 0; i < chunks.length; i++) {
      await this.putLater(chunks[i]!, width, (ref) => {
        refs[i] = ref;
        if (--left === 0) assign(refs);
      });
    }
  }

  /**
   * Stores a changed tensor as an update of the previous version's tensor of the same name, when there is one
   * (same dtype and size) and the chain stays within max_chain links. Picks the smallest exact encoding: sparse
   * patch or XOR delta, or low-rank factors + residual when the change is low-rank. False → store it densely.
   */
  private async encodeUpdate(tensor: ManifestTensor, pieces: readonly Uint8Array[]): Promise<boolean> {
    const prev = this.previousByName.get(tensor.name);
    if (
      !prev ||
      tensor.sizeBytes < MIN_UPDATE_BYTES ||
      prev.dtype !== tensor.dtype ||
      prev.sizeBytes !== tensor.sizeBytes ||
      prev.contentId === tensor.contentId
    ) {
      return false;
    }
    const depth = chainDepthOf(prev.encoding) + 1;
    if (depth > this.maxChain) return false;
    let parent: Uint8Array;
    try {
      parent = await decodeTensorBytes({
        store: this.repo.store,
        encoding: prev.encoding,
        sizeBytes: prev.sizeBytes,
        dtype: prev.dtype,
        parents: this.previousParents,
        what: `previous ${JSON.stringify(tensor.name)}`,
      });
    } catch (e) {
      if (e instanceof StoreError) return false; // the parent is not here (a partial clone): store densely
      throw e;
    }
    if (createHash('sha256').update(parent).digest('hex') !== prev.contentId) return false;
    const target = pieces.length === 1 ? pieces[0]! : concatBytes(pieces);
    let update = encodeDelta({ parent, target, dtype: tensor.dtype });
    // A sparse change is never low-rank enough to beat its sparse patch: test only changes touching most entries.
    const lowRank =
      this.autoLowRank && update.params.patch === 'xor' ? this.tryLowRank(tensor, parent, target) : undefined;
    if (lowRank && storedSizeOf(lowRank) < storedSizeOf(update)) update = lowRank;
    // Parameters in a fixed order (the manifest must be deterministic); reference lists are filled in as stored.
    const params: Record<string, string> = { parent: prev.contentId, depth: String(depth), ...update.params };
    for (const part of update.parts) if (part.key !== 'refs') params[part.key] = '-';
    tensor.encoding = { kind: update.kind, params, refs: [] };
    for (const part of update.parts) {
      await this.storePart(part.bytes, part.width, (refs) => {
        if (part.key === 'refs') tensor.encoding.refs = refs;
        else params[part.key] = printRefs(refs);
      });
    }
    return true;
  }

  /**
   * For a tensor too big to hold: the previous version of the same name, dtype and size, decoded and verified, when
   * an XOR delta against it keeps the chain within max_chain; undefined otherwise.
   */
  async streamParent(
    tensor: ManifestTensor,
  ): Promise<{ contentId: ContentId; depth: number; bytes: Uint8Array } | undefined> {
    await this.ready;
    const prev = this.previousByName.get(tensor.name);
    if (!prev || prev.dtype !== tensor.dtype || prev.sizeBytes !== tensor.sizeBytes) return undefined;
    const depth = chainDepthOf(prev.encoding) + 1;
    if (depth > this.maxChain) return undefined;
    try {
      const bytes = await decodeTensorBytes({
        store: this.repo.store,
        encoding: prev.encoding,
        sizeBytes: prev.sizeBytes,
        dtype: prev.dtype,
        parents: this.previousParents,
        what: `previous ${JSON.stringify(tensor.name)}`,
      });
      if (createHash('sha256').update(bytes).digest('hex') !== prev.contentId) return undefined;
      return { contentId: prev.contentId, depth, bytes };
    } catch (e) {
      if (e instanceof StoreError) return undefined;
      throw e;
    }
  }

  /**
   * A low-rank + residual encoding when the change's energy is captured by a small rank; else undefined. The test
   * looks at a sample of rows first (cheap), and decodes the whole change only when the sample is low-rank.
   */
  private tryLowRank(tensor: ManifestTensor, parent: Uint8Array, target: Uint8Array): EncodedUpdate | undefined {
    const [rows, cols] = tensor.shape;
    if (tensor.shape.length !== 2 || rows === undefined || cols === undefined || rows < 16 || cols < 16)
      return undefined;
    if (!isPredictableDtype(tensor.dtype)) return undefined;
    const rowBytes = cols * dtypeSize(tensor.dtype);
    const sample = Math.min(rows, AUTO_MAX_RANK + 32);
    const sampled = new Float32Array(sample * cols);
    const before = new Float32Array(cols);
    for (let i = 0; i < sample; i++) {
      const r = Math.floor((i * rows) / sample);
      const row = sampled.subarray(i * cols, (i + 1) * cols);
      decodeToF32(tensor.dtype, target.subarray(r * rowBytes, (r + 1) * rowBytes), row);
      decodeToF32(tensor.dtype, parent.subarray(r * rowBytes, (r + 1) * rowBytes), before);
      for (let c = 0; c < cols; c++) row[c] = row[c]! - before[c]!;
    }
    // The rank holding 99% of the change (a LoRA merged and rounded to BF16: the rest is rounding noise) and, for
    // F32, the one holding it all but 1e-6 (an exact low-rank change): both are tried, the smaller encoding wins.
    // A half-precision change is seen through rounding noise, so only the first applies there.
    const ranks = estimateLowRanks({
      matrix: sampled,
      rows: sample,
      cols,
      maxRank: AUTO_MAX_RANK,
      energies:
        tensor.dtype === 'BF16' || tensor.dtype === 'F16' ? [AUTO_LOW_RANK_ENERGY] : [AUTO_LOW_RANK_ENERGY, 1 - 1e-6],
      sampleRows: sample,
    }).filter((r): r is number => r !== undefined && r * 4 <= Math.min(rows, cols));
    if (ranks.length === 0) return undefined;
    const delta = decodeToF32(tensor.dtype, target);
    const all = decodeToF32(tensor.dtype, parent);
    for (let i = 0; i < delta.length; i++) delta[i] = delta[i]! - all[i]!;
    for (let i = 0; i < delta.length; i++) if (!Number.isFinite(delta[i]!)) return undefined;
    let best: EncodedUpdate | undefined;
    let bestSize = Number.POSITIVE_INFINITY;
    const weights = roundingWeights(tensor.dtype, target);
    for (const rank of [...new Set(ranks)]) {
      // No power iteration when the refit follows: it re-solves the row factors anyway (256 MiB: 1.20× against
      // 1.18× the adapter with one iteration, two passes over the matrix fewer).
      const f = randomizedSvd({ matrix: delta, rows, cols, rank, powerIterations: weights ? 0 : 1 });
      // A rounded change is observed with noise of ½ ulp of each value: refit the row factors by least squares
      // weighted 1/ulp² (64 MiB check: the misses of the prediction fall by a third, the residual by half).
      if (weights)
        refitLeftWeighted({ matrix: delta, rows, cols, rank: f.rank, left: f.left, right: f.right, weights });
      const keep = FACTOR_MANTISSA_BITS[tensor.dtype];
      if (keep !== undefined) {
        roundMantissa(f.left, keep);
        roundMantissa(f.right, keep);
      }
      const candidate = encodeLowRank({
        parent,
        target,
        dtype: tensor.dtype,
        update: { rows, cols, rank: f.rank, left: f.left, right: f.right, scale: 1 },
        sizeOf: storedSizeOf,
      });
      const size = ranks.length > 1 ? storedSizeOf(candidate) : 0;
      if (size < bestSize) {
        best = candidate;
        bestSize = size;
      }
    }
    return best;
  }

  private async flushPack(width: GroupWidth): Promise<void> {
    const pack = this.packs.get(width);
    if (!pack || pack.members.length === 0) return;
    this.packs.delete(width);
    await this.putLater(pack.parts, width, (ref) => {
      let at = 0;
      for (const m of pack.members) {
        m.assign([{ id: ref.id, start: at, end: at + m.sizeBytes }]);
        at += m.sizeBytes;
      }
    });
  }

  async finish(tensors: readonly ManifestTensor[]): Promise<ManifestParent[]> {
    await this.decisions;
    for (const w of [...this.packs.keys()]) await this.flushPack(w);
    await this.queue.flush();
    const parents: ManifestParent[] = [];
    const listed = new Set<string>(tensors.map((t) => t.contentId));
    for (const t of tensors) {
      let enc = t.encoding;
      while (enc.kind !== 'dense') {
        const id = enc.params.parent!;
        const p = await this.resolveParent(id, t.sizeBytes);
        if (!p)
          throw new StoreError(
            'STORE_MISSING',
            `tensor ${JSON.stringify(t.name)}: parent version ${id.slice(0, 12)}… is not in the store`,
          );
        if (!listed.has(id)) {
          listed.add(id);
          parents.push(p);
        }
        enc = p.encoding;
      }
    }
    // Objects are durable (file and directory fsynced) before anything names them: the index, then git.
    await this.repo.store.syncDirectories();
    // The index learns what it does not know, side by side: an encoding it gave back is in it already, and one
    // reused from the previous version is recorded only when the index has no entry for that content (a re-clean
    // of an unchanged file writes nothing).
    const locations = new Map<string, string>();
    for (const t of tensors) {
      if (this.reusedFrom.get(t.contentId) !== 'index') locations.set(t.contentId, printEncoding(t.encoding));
    }
    await Promise.all(
      [...locations].map(async ([contentId, location]) => {
        const indexed = this.reusedFrom.get(contentId);
        if (indexed instanceof Promise && (await indexed)) return;
        await this.repo.contentIndex.record(contentId, location);
      }),
    );
    return parents;
  }
}

/** Compressed sizes of payloads already measured (candidates share their factors; the winner is measured twice). */
const storedSizes = new WeakMap<Uint8Array, number>();

/** Bytes an encoding's payloads take in the store (compressed as the store would). */
function storedSizeOf(update: EncodedUpdate): number {
  let n = 0;
  for (const p of update.parts) {
    if (p.bytes.length === 0) continue;
    let size = storedSizes.get(p.bytes);
    if (size === undefined) {
      size = encodeObjectSync(p.bytes, p.width).length;
      storedSizes.set(p.bytes, size);
    }
    n += size;
  }
  return n;
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

/**
 * Receives one tensor's bytes from the stream: hashed on a worker thread as they arrive, held (uncopied) until the
 * hash is known — then stored only if new. Tensors too big to hold are stored as they stream.
 */
async function cleanTensor(
  cleaner: Cleaner,
  stream: ByteStream,
  extent: Checkpoint['extents'][number],
  fileName: string,
): Promise<ManifestTensor> {
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
  await cleaner.bound(HOLD_BYTES - Math.min(extent.sizeBytes, HOLD_BYTES));
  const hash = beginTensorHash();
  if (extent.sizeBytes <= HOLD_BYTES) {
    const pieces: Promise<Uint8Array>[] = [];
    for await (const part of take(stream, extent.sizeBytes, fileName)) pieces.push(hash.update(part));
    cleaner.schedule(tensor, Promise.all(pieces), hash.digest(), width);
    return tensor;
  }
  // Too big to hold: store TENSOR_CHUNK_BYTES chunks as they complete (an unchanged tensor then dedups by object id).
  // With a previous version of the same shape, each chunk is stored as its XOR against the parent's chunk: a
  // fine-tuned tensor then costs its byte-grouped delta. All-zero chunks (unchanged stretches) are stored only
  // once the content id shows the tensor did change at all.
  const parentStream = await cleaner.streamParent(tensor);
  const refs: ObjectRef[] = [];
  const zeroChunks: { index: number; size: number }[] = [];
  let chunk: Uint8Array[] = [];
  let filled = 0;
  let index = 0;
  let offset = 0;
  const flush = async () => {
    const i = index++;
    let bytes: Uint8Array | Uint8Array[] = chunk;
    const size = filled;
    chunk = [];
    filled = 0;
    if (parentStream) {
      const xor = concatBytes(bytes);
      xorInto(xor, parentStream.bytes.subarray(offset, offset + size));
      offset += size;
      if (isAllZero(xor)) {
        zeroChunks.push({ index: i, size });
        return;
      }
      bytes = xor;
    }
    await cleaner.putLater(bytes, width, (ref) => {
      refs[i] = ref;
    });
  };
  for await (const part of take(stream, extent.sizeBytes, fileName)) {
    let p = await hash.update(part);
    while (p.length > 0) {
      const n = Math.min(TENSOR_CHUNK_BYTES - filled, p.length);
      chunk.push(p.subarray(0, n));
      filled += n;
      p = p.subarray(n);
      if (filled === TENSOR_CHUNK_BYTES) await flush();
    }
  }
  if (filled > 0) await flush();
  const digest = hash.digest();
  if (parentStream) {
    tensor.encoding = {
      kind: 'delta',
      params: { parent: parentStream.contentId, depth: String(parentStream.depth), patch: 'xor' },
      refs,
    };
  } else tensor.encoding.refs = refs;
  const known = (async () => {
    tensor.contentId = (await digest) as ContentId;
    const found = await cleaner.lookup(tensor.contentId, tensor.sizeBytes);
    if (!found) {
      for (const z of zeroChunks) {
        await cleaner.putLater(new Uint8Array(z.size), width, (ref) => {
          refs[z.index] = ref;
        });
      }
    }
    return found;
  })();
  known.catch(() => {}); // awaited in the decisions (adopt)
  cleaner.adopt(tensor, known);
  return tensor;
}

function isAllZero(bytes: Uint8Array): boolean {
  const words =
    bytes.byteOffset % 4 === 0 ? new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2) : undefined;
  let i = 0;
  if (words) {
    for (let w = 0; w < words.length; w++) if (words[w] !== 0) return false;
    i = words.length << 2;
  }
  for (; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** Cleans a parsed checkpoint whose bytes come from `stream` starting at offset 0. */
async function cleanCheckpointStream(
  repo: Repo,
  stream: ByteStream,
  checkpoint: Checkpoint,
  fileName: string,
  recycle: ((buffer: ArrayBuffer) => void) | undefined,
  options: Pick<CleanOptions, 'previous' | 'maxChain' | 'autoLowRank'>,
): Promise<{ manifest: Manifest; storedBytes: number }> {
  const setup = Promise.all([options.previous, options.maxChain, options.autoLowRank]).then(
    ([previous, maxChain, autoLowRank]) => ({ previous, maxChain, autoLowRank }),
  );
  const cleaner = new Cleaner(repo, recycle, setup);
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
  const parents = await cleaner.finish(tensors);
  const manifest: Manifest = { format: checkpoint.format, sizeBytes: checkpoint.sizeBytes, frames, tensors };
  if (parents.length > 0) manifest.parents = parents;
  return {
    manifest,
    storedBytes: cleaner.storedBytes,
  };
}

async function readExact(stream: ByteStream, n: number, fileName: string): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of take(stream, n, fileName)) parts.push(new Uint8Array(p)); // a copy (Buffer#slice is a view)
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
        yield new Uint8Array(part); // a copy (Buffer#slice is a view)
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
  const head = await stream.read(DETECT_HEAD_BYTES);
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
  const module =
    detectFormat(head, options.sizeHint ?? Number.MAX_SAFE_INTEGER) ??
    (await findSiblingFormat({ topLevel: repo.topLevel, pathname }));
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
    if (checkpoint) {
      result = await cleanCheckpointStream(repo, stream, checkpoint, pathname, options.recycle, options);
    } else if (spool) result = await cleanSpooled(options, stream, module);
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
        ? await cleanCheckpointStream(options.repo, fromFile(), checkpoint, options.pathname, undefined, options)
        : await cleanOpaque(options.repo, fromFile());
    } finally {
      await source.close();
    }
  } finally {
    await rm(path, { force: true });
  }
}
