// Worker thread body for CodecPool: encodes objects (byte planes + zstd + SHA-256) and verifies and decodes them
// off the main thread. It receives bytes and answers with bytes (moved, not copied); it touches no files.

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
    };

/** Answers to CodecPool: the result, or an error described well enough to be rebuilt on the other side. */
export type CodecReply =
  | { seq: number; stored: Uint8Array; id: ObjectId }
  | { seq: number; raw: Uint8Array }
  | { seq: number; error: { message: string; storeCode?: StoreError['code']; file?: string } };

parentPort?.on('message', (request: CodecRequest) => {
  try {
    if (request.op === 'encode') {
      const stored = encodeObjectSync(request.pieces, request.width);
      reply({ seq: request.seq, stored, id: computeObjectId(stored) }, stored, request.pieces);
    } else {
      const { stored, id, verify, expectedRawLength, file } = request;
      const raw = decodeObjectSync(stored, {
        ...(verify ? { expectedId: id } : { id }),
        ...(expectedRawLength === undefined ? {} : { expectedRawLength }),
        ...(file === undefined ? {} : { file }),
      });
      reply({ seq: request.seq, raw }, raw, raw.buffer === stored.buffer ? [] : [stored]);
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
