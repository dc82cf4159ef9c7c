// A small pool of worker threads that encode and decode objects, so that compressing or restoring a model uses
// every core while the main thread reads and writes streams. Callers fall back to their own thread without it.

import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { BUILD_ROOT } from '../build-root.js';
import { StoreError } from '../errors.js';
import type { CodecReply, CodecRequest, HashPiece } from './codec-worker.js';
import { type GroupWidth, OBJECT_HEADER_BYTES, type ObjectId, parseObjectHeader } from './object-codec.js';

/**
 * Size of the recycled buffers objects are read into and decoded into: a tensor chunk (8 MiB) plus its headers,
 * with room to spare. No other buffer in the process has this size, which is how returned ones are recognised.
 */
export const SLOT_BYTES = 8 * 1024 * 1024 + 4096;
/** Idle slots kept at most (the rest are left to the garbage collector): 12 × 8 MiB. */
const MAX_IDLE_SLOTS = 12;

interface Pending {
  resolve(reply: CodecReply): void;
  reject(error: Error): void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

/** Options of {@link CodecPool.decode}. */
export interface PoolDecodeOptions {
  /** Names the object in errors; with `verify`, the SHA-256 the stored bytes must have. */
  id: ObjectId;
  verify: boolean;
  expectedRawLength?: number;
  file?: string;
  /** Feed a range of the decoded bytes to a running hash on the worker (see {@link CodecPool.beginHash}). */
  hash?: HashPiece;
  /**
   * Decode into a recycled slot: the result is then lent (see {@link CodecPool.release}). Only for a result the
   * caller uses once and can give back, or simply drop.
   */
  lend?: boolean;
}

/** Encodes and decodes objects on worker threads; tasks go to the worker with the fewest in flight. */
export class CodecPool {
  private readonly slots: Slot[] = [];
  private seq = 0;
  private sessions = 0;

  private constructor(
    private readonly script: URL,
    private readonly size: number,
  ) {}

  /**
   * Starts the worker threads (they load for ~50 ms), if not yet started: the first task starts them anyway, so
   * this only moves that cost ahead, e.g. to overlap it with a handshake.
   */
  start(): void {
    if (this.slots.length > 0) return;
    const script = this.script;
    for (let i = 0; i < this.size; i++) {
      const worker = new Worker(script);
      const slot: Slot = { worker, pending: new Map() };
      worker.on('message', (reply: CodecReply & { returned?: ArrayBuffer[] }) => {
        for (const b of reply.returned ?? []) {
          if (b.byteLength === SLOT_BYTES) this.giveSlot(b);
          else this.recycle?.(b);
        }
        const p = slot.pending.get(reply.seq);
        slot.pending.delete(reply.seq);
        if (slot.pending.size === 0) worker.unref();
        p?.resolve(reply);
      });
      const failAll = (error: Error) => {
        for (const p of slot.pending.values()) p.reject(error);
        slot.pending.clear();
      };
      worker.on('error', failAll);
      worker.on('exit', (code) => failAll(new Error(`codec worker exited with code ${code}`)));
      // Unref only now: adding a 'message' listener refs the worker again (Node's MessagePort semantics).
      worker.unref();
      this.slots.push(slot);
    }
  }

  /**
   * Receives the input buffers a worker is done with (moved back, not copied), so a caller can reuse them instead
   * of allocating (and faulting in) fresh memory for every piece.
   */
  recycle: ((buffer: ArrayBuffer) => void) | undefined;

  /** Idle slots, and the slots whose memory a caller holds (a result of a `lend` decode, or {@link takeSlot}). */
  private readonly idle: ArrayBuffer[] = [];
  private readonly lent = new WeakSet<ArrayBufferLike>();

  /**
   * A lent buffer of `bytes` (a view of a recycled slot) when `bytes` fits one, else undefined. Give it back with
   * {@link release} once nothing holds a view of it, or drop it.
   */
  takeSlot(bytes: number): Uint8Array | undefined {
    if (bytes > SLOT_BYTES) return undefined;
    const buffer = this.idle.pop() ?? new ArrayBuffer(SLOT_BYTES);
    this.lent.add(buffer);
    return new Uint8Array(buffer, 0, bytes);
  }

  /** Whether `bytes` is a view of a lent slot. */
  isLent(bytes: Uint8Array): boolean {
    return this.lent.has(bytes.buffer);
  }

  /**
   * Gives back the slot `bytes` is a view of, when it is a lent one (anything else is ignored): the caller, and
   * everyone it handed a view to, must be done with that memory.
   */
  release(bytes: Uint8Array): void {
    const buffer = bytes.buffer;
    if (!this.lent.delete(buffer)) return;
    this.giveSlot(buffer as ArrayBuffer);
  }

  private giveSlot(buffer: ArrayBuffer): void {
    if (buffer.byteLength === SLOT_BYTES && this.idle.length < MAX_IDLE_SLOTS) this.idle.push(buffer);
  }

  private static instance: CodecPool | null | undefined;

  /**
   * The process's pool, or undefined when the compiled worker script is absent (running from TypeScript
   * sources, as unit tests do): callers then encode and decode on their own thread.
   */
  static shared(): CodecPool | undefined {
    if (CodecPool.instance === undefined) {
      const script = new URL('store/codec-worker.js', BUILD_ROOT);
      CodecPool.instance =
        script.protocol === 'file:' && existsSync(fileURLToPath(script))
          ? new CodecPool(script, Math.max(1, availableParallelism()))
          : null;
    }
    return CodecPool.instance ?? undefined;
  }

  /**
   * Encodes the concatenation of `pieces` on a worker and hashes the result. Pieces on a SharedArrayBuffer are
   * shared with the worker as they are. With `transfer`, each other piece that owns its whole ArrayBuffer moves
   * to the worker (the caller must not use it afterwards); the rest are copied.
   */
  async encode(
    pieces: readonly Uint8Array[],
    width: GroupWidth,
    transfer: boolean,
  ): Promise<{ stored: Uint8Array; id: ObjectId }> {
    const moved = new Set<ArrayBuffer>();
    const sent = pieces.map((piece) => {
      const buffer = piece.buffer;
      if (!(buffer instanceof ArrayBuffer)) return piece;
      const movable = transfer && ownsWholeBuffer(piece) && !moved.has(buffer);
      const own = movable ? piece : new Uint8Array(piece); // a copy (Buffer#slice would be a view)
      moved.add(own.buffer as ArrayBuffer);
      return own;
    });
    const reply = await this.run({ seq: this.seq++, op: 'encode', pieces: sent, width }, [...moved]);
    if (!('stored' in reply)) throw new Error('codec worker: unexpected reply to encode');
    return reply;
  }

  /**
   * Verifies (unless `verify` is false) and decodes a stored object on a worker; errors as `decodeObject`.
   * `stored` moves to the worker when it owns its whole ArrayBuffer (the caller must not use it afterwards).
   */
  async decode(stored: Uint8Array, options: PoolDecodeOptions): Promise<Uint8Array> {
    const movable =
      (ownsWholeBuffer(stored) || this.lent.delete(stored.buffer)) && stored.buffer instanceof ArrayBuffer;
    const sent = movable ? stored : new Uint8Array(stored);
    const request: CodecRequest = {
      seq: this.seq++,
      op: 'decode',
      stored: sent,
      id: options.id,
      verify: options.verify,
    };
    const transfer = [sent.buffer as ArrayBuffer];
    if (options.lend) {
      const into = this.takeSlot(readRawLength(stored));
      if (into) {
        this.lent.delete(into.buffer);
        request.into = into;
        transfer.push(into.buffer as ArrayBuffer);
      }
    }
    if (options.expectedRawLength !== undefined) request.expectedRawLength = options.expectedRawLength;
    if (options.file !== undefined) request.file = options.file;
    if (options.hash !== undefined) request.hash = options.hash;
    const reply = await this.run(request, transfer, options.hash?.session);
    if (!('raw' in reply)) throw new Error('codec worker: unexpected reply to decode');
    // A lent decode's result lives in one of its slots (the output slot, or the input slot for a raw object).
    if (options.lend && reply.raw.buffer.byteLength === SLOT_BYTES) this.lent.add(reply.raw.buffer);
    return reply.raw;
  }

  /**
   * Starts a running SHA-256 on one worker: decodes given `hash: { session, index, start, end }` feed it their
   * bytes in `index` order (0, 1, …), so a tensor is hashed where it is decoded, without a copy. Returns the
   * session; {@link CodecPool.digest} ends it.
   *
   * @example const s = pool.beginHash(); await store.get(id, { hash: { session: s, index: 0, start: 0, end } });
   * const hex = await pool.digest(s);
   */
  beginHash(): number {
    return this.sessions++;
  }

  /**
   * Feeds `piece` to session `session` as its piece `index` (0, 1, … in the order they are to be hashed) on the
   * session's worker. The piece moves there and back, never copied, when it owns its whole ArrayBuffer (else a
   * copy goes): use only the returned bytes afterwards (same contents).
   *
   * @example const s = pool.beginHash(); piece = await pool.hashPiece(s, 0, piece); const hex = await pool.digest(s);
   */
  async hashPiece(session: number, index: number, piece: Uint8Array): Promise<Uint8Array> {
    const owned = ownsWholeBuffer(piece) && piece.buffer instanceof ArrayBuffer ? piece : new Uint8Array(piece);
    const reply = await this.run(
      { seq: this.seq++, op: 'hash', session, index, piece: owned },
      [owned.buffer as ArrayBuffer],
      session,
    );
    if (!('piece' in reply)) throw new Error('codec worker: unexpected reply to hash');
    return reply.piece;
  }

  /** The SHA-256 (hex) of what session `session` was fed, once every piece up to the last fed one arrived. */
  async digest(session: number): Promise<string> {
    const reply = await this.run({ seq: this.seq++, op: 'digest', session }, [], session);
    if (!('digest' in reply)) throw new Error('codec worker: unexpected reply to digest');
    return reply.digest;
  }

  private run(
    request: CodecRequest,
    transferList: ArrayBuffer[],
    /** Pins the task to one worker (the one holding this hash session). */
    session?: number,
  ): Promise<Exclude<CodecReply, { error: unknown }>> {
    this.start();
    const slot =
      session === undefined
        ? this.slots.reduce((a, b) => (b.pending.size < a.pending.size ? b : a))
        : this.slots[session % this.slots.length]!;
    return new Promise((resolve, reject) => {
      slot.pending.set(request.seq, {
        resolve: (reply) => {
          if (!('error' in reply)) return resolve(reply);
          const { message, storeCode, file } = reply.error;
          reject(
            storeCode === undefined
              ? new Error(message)
              : new StoreError(storeCode, message, file === undefined ? {} : { file }),
          );
        },
        reject,
      });
      if (slot.pending.size === 1) slot.worker.ref();
      try {
        slot.worker.postMessage(request, transferList);
      } catch (error) {
        slot.pending.delete(request.seq);
        if (slot.pending.size === 0) slot.worker.unref();
        reject(error);
      }
    });
  }
}

/** The raw length an object's header declares (0 when there is no header: the worker reports that). */
function readRawLength(stored: Uint8Array): number {
  if (stored.length < OBJECT_HEADER_BYTES) return 0;
  try {
    return parseObjectHeader(stored.subarray(0, OBJECT_HEADER_BYTES)).rawLength;
  } catch {
    return 0;
  }
}

function ownsWholeBuffer(bytes: Uint8Array): boolean {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
}
