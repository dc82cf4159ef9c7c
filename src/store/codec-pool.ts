// A small pool of worker threads that encode and decode objects, so that compressing or restoring a model uses
// every core while the main thread reads and writes streams. Callers fall back to their own thread without it.

import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { StoreError } from '../errors.js';
import type { CodecReply, CodecRequest, HashPiece } from './codec-worker.js';
import type { GroupWidth, ObjectId } from './object-codec.js';

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
}

/** Encodes and decodes objects on worker threads; tasks go to the worker with the fewest in flight. */
export class CodecPool {
  private readonly slots: Slot[] = [];
  private seq = 0;
  private sessions = 0;

  private constructor(script: URL, size: number) {
    for (let i = 0; i < size; i++) {
      const worker = new Worker(script);
      const slot: Slot = { worker, pending: new Map() };
      worker.on('message', (reply: CodecReply & { returned?: ArrayBuffer[] }) => {
        if (reply.returned && this.recycle) for (const b of reply.returned) this.recycle(b);
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

  private static instance: CodecPool | null | undefined;

  /**
   * The process's pool, or undefined when the compiled worker script is absent (running from TypeScript
   * sources, as unit tests do): callers then encode and decode on their own thread.
   */
  static shared(): CodecPool | undefined {
    if (CodecPool.instance === undefined) {
      const script = new URL('./codec-worker.js', import.meta.url);
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
    const sent = ownsWholeBuffer(stored) && stored.buffer instanceof ArrayBuffer ? stored : new Uint8Array(stored);
    const request: CodecRequest = {
      seq: this.seq++,
      op: 'decode',
      stored: sent,
      id: options.id,
      verify: options.verify,
    };
    if (options.expectedRawLength !== undefined) request.expectedRawLength = options.expectedRawLength;
    if (options.file !== undefined) request.file = options.file;
    if (options.hash !== undefined) request.hash = options.hash;
    const reply = await this.run(request, [sent.buffer as ArrayBuffer], options.hash?.session);
    if (!('raw' in reply)) throw new Error('codec worker: unexpected reply to decode');
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

function ownsWholeBuffer(bytes: Uint8Array): boolean {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
}
