// Worker thread body for CodecPool: encodes objects (byte planes + zstd + SHA-256) and verifies and decodes them
// off the main thread. It receives bytes and answers with bytes (moved, not copied); it touches no files.

import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { StoreError } from '../errors.js';
import { computeObjectId, decodeObjectSync, encodeObjectSync, type GroupWidth, type ObjectId } from './object-codec.js';

/** Messages from CodecPool. */
export type CodecRequest =
  | { seq: number; op: 'encode'; pieces: Uint8Array[]; width: GroupWidth }
  | {
      seq: number;
      op: 'decode';
      stored: Uint8Array;
      id: ObjectId;
      verify: boolean;
      expectedRawLength?: number;
      file?: string;
      /** Also feed bytes `start..end` of the decoded object, as piece `index`, to running SHA-256 `session`. */
      hash?: HashPiece;
      /** A recycled buffer to decode into (moved here; moved back, used or not). */
      into?: Uint8Array;
    }
  | { seq: number; op: 'digest'; session: number }
  /** Feeds `piece` (moved here; moved back) to running SHA-256 `session` as its piece `index`. */
  | { seq: number; op: 'hash'; session: number; index: number; piece: Uint8Array };

/** A piece of a running hash: pieces of one session are hashed in `index` order, whatever order they arrive in. */
export interface HashPiece {
  session: number;
  index: number;
  start: number;
  /** End of the range; -1 for the whole object. */
  end: number;
}

/** Answers to CodecPool: the result, or an error described well enough to be rebuilt on the other side. */
export type CodecReply =
  | { seq: number; stored: Uint8Array; id: ObjectId }
  | { seq: number; raw: Uint8Array }
  | { seq: number; digest: string }
  | { seq: number; piece: Uint8Array }
  | { seq: number; error: { message: string; storeCode?: StoreError['code']; file?: string } };

/** Running hashes: the next piece index each expects, and copies of pieces that arrived early. */
const sessions = new Map<number, { hash: Hash; next: number; early: Map<number, Uint8Array> }>();

function feed(piece: HashPiece, raw: Uint8Array, id: ObjectId, file: string | undefined): void {
  const end = piece.end < 0 ? raw.length : piece.end;
  if (end > raw.length || piece.start > end) {
    throw new StoreError(
      'STORE_CORRUPT',
      `object ${id} holds ${raw.length} bytes, a manifest needs ${end}`,
      file === undefined ? {} : { file },
    );
  }
  let s = sessions.get(piece.session);
  if (!s) {
    s = { hash: createHash('sha256'), next: 0, early: new Map() };
    sessions.set(piece.session, s);
  }
  const bytes = raw.subarray(piece.start, end);
  if (piece.index !== s.next) {
    s.early.set(piece.index, new Uint8Array(bytes)); // a copy: `raw` moves back to the main thread
    return;
  }
  s.hash.update(bytes);
  s.next++;
  for (let e = s.early.get(s.next); e !== undefined; e = s.early.get(s.next)) {
    s.early.delete(s.next);
    s.hash.update(e);
    s.next++;
  }
}

parentPort?.on('message', (request: CodecRequest) => {
  try {
    if (request.op === 'digest') {
      const s = sessions.get(request.session);
      sessions.delete(request.session);
      // Pieces still missing (a decode failed) make the digest wrong on purpose: the caller reports the tensor.
      const digest =
        s && s.early.size === 0 ? s.hash.digest('hex') : s ? 'incomplete' : createHash('sha256').digest('hex');
      parentPort?.postMessage({ seq: request.seq, digest } satisfies CodecReply);
    } else if (request.op === 'hash') {
      const { piece } = request;
      feed(
        { session: request.session, index: request.index, start: 0, end: -1 },
        piece,
        'piece' as ObjectId,
        undefined,
      );
      // Hand the memory back (moved, not copied): the caller keeps the bytes, e.g. to compress them.
      parentPort?.postMessage({ seq: request.seq, piece } satisfies CodecReply, [piece.buffer as ArrayBuffer]);
    } else if (request.op === 'encode') {
      const stored = encodeObjectSync(request.pieces, request.width);
      reply({ seq: request.seq, stored, id: computeObjectId(stored) }, stored, request.pieces);
    } else {
      const { stored, id, verify, expectedRawLength, file, into } = request;
      const raw = decodeObjectSync(stored, {
        ...(verify ? { expectedId: id } : { id }),
        ...(expectedRawLength === undefined ? {} : { expectedRawLength }),
        ...(file === undefined ? {} : { file }),
        ...(into === undefined ? {} : { into }),
      });
      if (request.hash) feed(request.hash, raw, id, file);
      reply({ seq: request.seq, raw }, raw, into ? [stored, into] : [stored]);
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const described: { message: string; storeCode?: StoreError['code']; file?: string } = { message };
    if (error instanceof StoreError) {
      described.storeCode = error.code;
      if (error.file !== undefined) described.file = error.file;
    }
    parentPort?.postMessage({ seq: request.seq, error: described } satisfies CodecReply);
  }
});

/**
 * Posts `message`, moving `bytes`' memory along. Memory the zstd binding allocated cannot always be moved (it may
 * live outside V8's ArrayBuffer allocator); then it is copied. The request's input buffers (`done`) are moved back
 * too: this isolate rarely collects garbage, and moving them is what frees them here at once.
 */
function reply(message: CodecReply, bytes: Uint8Array, done: readonly Uint8Array[]): void {
  const back = new Set<ArrayBuffer>();
  for (const d of done) if (d.buffer instanceof ArrayBuffer && d.buffer !== bytes.buffer) back.add(d.buffer);
  try {
    parentPort?.postMessage({ ...message, returned: [...back] }, [bytes.buffer as ArrayBuffer, ...back]);
  } catch {
    const copy = new Uint8Array(bytes);
    const copied = 'raw' in message ? { ...message, raw: copy } : { ...message, stored: copy };
    parentPort?.postMessage(copied, [copy.buffer]);
  }
}
