// The object format: a 16-byte header plus a raw or byte-grouped zstd payload, named by the SHA-256 of the stored
// bytes. Pure bytes ⇄ bytes (zstd runs on libuv's thread pool); no file I/O here.

import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { Decoder, Encoder } from '@toondepauw/node-zstd';
import { StoreError } from '../errors.js';
import { GROUP_WIDTHS, type GroupWidth, joinBytePlanes, splitBytePlanes } from './byte-planes.js';
import { checkZstdFrame } from './zstd-frame.js';

export type { GroupWidth } from './byte-planes.js';

/** An object's name: SHA-256 of its stored bytes, 64 lowercase hex digits (also its Git LFS oid). */
export type ObjectId = string & { readonly __brand: 'ObjectId' };

/** Payload encodings; the byte at header offset 4. */
export type ObjectCodec = 'raw' | 'zstd';

/** What a stored object's header says. */
export interface ObjectHeader {
  codec: ObjectCodec;
  /** Byte-plane width the payload was grouped by (always 1 for `raw`). */
  groupWidth: GroupWidth;
  /** Length of the object's bytes once decoded. */
  rawLength: number;
}

/** Bytes before the payload: "WFT", version, codec, group width, 2 reserved zero bytes, u64 LE raw length. */
export const OBJECT_HEADER_BYTES = 16;

/**
 * Largest raw length one object may declare. The header is checked before anything is allocated: without this
 * cap a few hostile bytes could claim (and a crafted zstd payload expand to) terabytes (zstd bomb, CWE-409).
 * Large tensors are split into several objects long before this size.
 */
export const MAX_OBJECT_RAW_BYTES = 1024 * 1024 * 1024;

/** The payload is stored compressed only if it is smaller than this fraction of the raw bytes. */
const MIN_SAVING_RATIO = 0.97;
/** zstd level 1: levels 3 and 9 compress byte-grouped weights *worse* and slower (FORMATS.md). */
const ZSTD_LEVEL = 1;
/** Below this size a trip through the thread pool costs more than compressing in place. */
const SYNC_CODEC_BYTES = 64 * 1024;

const MAGIC = [0x57, 0x46, 0x54] as const; // "WFT"
const FORMAT_VERSION = 1;
const CODEC_BYTES: Record<ObjectCodec, number> = { raw: 0, zstd: 1 };
const OBJECT_ID_PATTERN = /^[0-9a-f]{64}$/;

const encoder = new Encoder(ZSTD_LEVEL);
const decoder = new Decoder();

/**
 * Reuses the byte-plane buffers of large encodes: each lives only until zstd has read it, and a fresh buffer
 * costs as much in page faults as the transpose itself (measured 0.89 vs 0.44 ns/byte).
 */
class ScratchPool {
  /** Cap on idle bytes kept; bounds what the pool holds on to between puts. */
  private static readonly MAX_IDLE_BYTES = 64 * 1024 * 1024;
  private idle: Buffer[] = [];
  private idleBytes = 0;

  take(length: number): Buffer {
    const at = this.idle.findIndex((b) => b.length === length);
    if (at < 0) return Buffer.allocUnsafeSlow(length);
    const [buffer] = this.idle.splice(at, 1);
    this.idleBytes -= length;
    return buffer!;
  }

  give(buffer: Buffer): void {
    if (buffer.length > ScratchPool.MAX_IDLE_BYTES) return;
    while (this.idleBytes + buffer.length > ScratchPool.MAX_IDLE_BYTES) this.idleBytes -= this.idle.shift()!.length;
    this.idle.push(buffer);
    this.idleBytes += buffer.length;
  }
}

const scratch = new ScratchPool();

/** Options of {@link decodeObject}. */
export interface DecodeObjectOptions {
  /** Verify that SHA-256 of `stored` is this id (STORE_CORRUPT if not); it also names the object in errors. */
  expectedId?: ObjectId;
  /** Reject an object whose header declares another raw length, before decompressing it. */
  expectedRawLength?: number;
  /** Where the bytes came from, for error messages. */
  file?: string;
}

/**
 * Encodes raw bytes as a stored object: byte-grouped by `groupWidth` (the element size; falls back to 1 when the
 * length is not a multiple) and compressed with zstd level 1, or kept raw when that saves less than 3%.
 * `raw` must not change until the promise settles. Throws RangeError for a width other than 1, 2, 4, 8 or more
 * than {@link MAX_OBJECT_RAW_BYTES} bytes (callers split large tensors).
 *
 * @example
 * const stored = await encodeObject(bf16Bytes, 2);
 * const id = computeObjectId(stored);
 */
export async function encodeObject(raw: Uint8Array, groupWidth: GroupWidth): Promise<Uint8Array> {
  if (!GROUP_WIDTHS.includes(groupWidth)) {
    throw new RangeError(`encodeObject: group width ${groupWidth} is not 1, 2, 4 or 8`);
  }
  if (raw.length > MAX_OBJECT_RAW_BYTES) {
    throw new RangeError(`encodeObject: ${raw.length} bytes exceed MAX_OBJECT_RAW_BYTES (${MAX_OBJECT_RAW_BYTES})`);
  }
  const width = raw.length % groupWidth === 0 ? groupWidth : 1;
  if (raw.length > 0) {
    let payload: Buffer;
    if (raw.length < SYNC_CODEC_BYTES) {
      payload = encoder.encodeSync(asBuffer(width === 1 ? raw : splitBytePlanes(raw, width)));
    } else if (width === 1) {
      payload = await encoder.encode(asBuffer(raw));
    } else {
      const grouped = scratch.take(raw.length);
      try {
        payload = await encoder.encode(asBuffer(splitBytePlanes(raw, width, grouped)));
      } finally {
        scratch.give(grouped);
      }
    }
    if (payload.length < raw.length * MIN_SAVING_RATIO && checkZstdFrame(payload, raw.length) === undefined) {
      return assemble('zstd', width, raw.length, payload);
    }
  }
  return assemble('raw', 1, raw.length, raw);
}

/**
 * Decodes a stored object back to its raw bytes, validating the header before allocating anything, and the
 * decoded length after. Every problem is a StoreError STORE_CORRUPT naming the object; it never crashes on
 * hostile bytes. For a raw object the result is a view into `stored`.
 *
 * @example
 * const raw = await decodeObject(stored, { expectedId: id, expectedRawLength: 8192 });
 */
export async function decodeObject(stored: Uint8Array, options: DecodeObjectOptions = {}): Promise<Uint8Array> {
  const { expectedId, expectedRawLength, file } = options;
  const corrupt = corruptionReporter(expectedId, file);
  if (expectedId !== undefined) {
    const actual = computeObjectId(stored);
    if (actual !== expectedId) throw corrupt(`SHA-256 of the stored bytes is ${actual}; fetch the object again`);
  }
  const header = readHeader(stored, corrupt);
  if (expectedRawLength !== undefined && header.rawLength !== expectedRawLength) {
    throw corrupt(`header declares ${header.rawLength} raw bytes, expected ${expectedRawLength}`);
  }
  checkPayload(stored, header, corrupt);
  const payload = stored.subarray(OBJECT_HEADER_BYTES);
  if (header.codec === 'raw') return payload;
  let grouped: Uint8Array;
  try {
    const input = asBuffer(payload);
    grouped = header.rawLength < SYNC_CODEC_BYTES ? decoder.decodeSync(input) : await decoder.decode(input);
  } catch (error) {
    throw corrupt(`zstd payload does not decompress (${(error as Error).message})`, error);
  }
  if (grouped.length !== header.rawLength) {
    throw corrupt(`payload decompresses to ${grouped.length} bytes, the header declares ${header.rawLength}`);
  }
  return header.groupWidth === 1 ? grouped : joinBytePlanes(grouped, header.groupWidth);
}

/**
 * Reads and validates the 16-byte header at the start of `bytes` (magic, version, codec, width, raw length
 * within {@link MAX_OBJECT_RAW_BYTES}); STORE_CORRUPT if any field is wrong. Only the header is needed, so a
 * caller can read 16 bytes of a file to learn an object's raw length.
 *
 * @example
 * parseObjectHeader(first16Bytes) // → { codec: 'zstd', groupWidth: 2, rawLength: 8192 }
 */
export function parseObjectHeader(bytes: Uint8Array, options: { id?: ObjectId; file?: string } = {}): ObjectHeader {
  return readHeader(bytes, corruptionReporter(options.id, options.file));
}

/**
 * Validates a whole stored object without decompressing it: the header, and a payload that can hold exactly
 * the declared raw length (for zstd, one frame whose block count bounds its output). STORE_CORRUPT if not.
 * Does not check the id: see {@link computeObjectId}.
 *
 * @example
 * validateObject(downloaded, { id }) // → { codec: 'raw', groupWidth: 1, rawLength: 3 }
 */
export function validateObject(stored: Uint8Array, options: { id?: ObjectId; file?: string } = {}): ObjectHeader {
  const corrupt = corruptionReporter(options.id, options.file);
  const header = readHeader(stored, corrupt);
  checkPayload(stored, header, corrupt);
  return header;
}

/**
 * The id of stored bytes: their SHA-256 in lowercase hex.
 *
 * @example
 * computeObjectId(stored) // → 'a3f1…' (64 hex digits)
 */
export function computeObjectId(stored: Uint8Array): ObjectId {
  return createHash('sha256').update(stored).digest('hex') as ObjectId;
}

/**
 * Parses text as an object id: 64 lowercase hex digits, or `undefined`.
 *
 * @example
 * parseObjectId(line.split(' ')[1]) ?? fail('bad object id')
 */
export function parseObjectId(text: string): ObjectId | undefined {
  return OBJECT_ID_PATTERN.test(text) ? (text as ObjectId) : undefined;
}

function readHeader(stored: Uint8Array, corrupt: (problem: string) => StoreError): ObjectHeader {
  if (stored.length < OBJECT_HEADER_BYTES) {
    throw corrupt(`${stored.length} bytes is shorter than the ${OBJECT_HEADER_BYTES}-byte object header`);
  }
  if (stored[0] !== MAGIC[0] || stored[1] !== MAGIC[1] || stored[2] !== MAGIC[2]) {
    throw corrupt('not a Weft object (the first bytes are not "WFT")');
  }
  if (stored[3] !== FORMAT_VERSION) {
    throw corrupt(`object format version ${stored[3]} is not supported (this Weft reads version ${FORMAT_VERSION})`);
  }
  const codecByte = stored[4]!;
  const codec: ObjectCodec | undefined =
    codecByte === CODEC_BYTES.raw ? 'raw' : codecByte === CODEC_BYTES.zstd ? 'zstd' : undefined;
  if (codec === undefined) throw corrupt(`unknown codec ${codecByte}`);
  const widthByte = stored[5]!;
  const groupWidth = GROUP_WIDTHS.find((w) => w === widthByte);
  if (groupWidth === undefined) throw corrupt(`group width ${widthByte} is not 1, 2, 4 or 8`);
  if (codec === 'raw' && groupWidth !== 1) throw corrupt(`a raw payload has group width ${groupWidth}, not 1`);
  if (stored[6] !== 0 || stored[7] !== 0) throw corrupt('reserved header bytes are not zero');
  const view = new DataView(stored.buffer, stored.byteOffset, OBJECT_HEADER_BYTES);
  const declared = view.getBigUint64(8, true);
  if (declared > BigInt(MAX_OBJECT_RAW_BYTES)) {
    throw corrupt(`header declares ${declared} raw bytes, over the limit of ${MAX_OBJECT_RAW_BYTES}`);
  }
  const rawLength = Number(declared);
  if (rawLength % groupWidth !== 0)
    throw corrupt(`raw length ${rawLength} is not a multiple of the width ${groupWidth}`);
  return { codec, groupWidth, rawLength };
}

/** Checks that the payload can hold the header's raw length: exact for raw, one bounded frame for zstd. */
function checkPayload(stored: Uint8Array, header: ObjectHeader, corrupt: (problem: string) => StoreError): void {
  const payload = stored.subarray(OBJECT_HEADER_BYTES);
  if (header.codec === 'raw' && payload.length !== header.rawLength) {
    throw corrupt(`raw payload has ${payload.length} bytes, the header declares ${header.rawLength}`);
  }
  const frameProblem = header.codec === 'zstd' ? checkZstdFrame(payload, header.rawLength) : undefined;
  if (frameProblem !== undefined) throw corrupt(frameProblem);
}

function assemble(codec: ObjectCodec, width: GroupWidth, rawLength: number, payload: Uint8Array): Uint8Array {
  const stored = Buffer.allocUnsafe(OBJECT_HEADER_BYTES + payload.length);
  stored.set(MAGIC, 0);
  stored[3] = FORMAT_VERSION;
  stored[4] = CODEC_BYTES[codec];
  stored[5] = width;
  stored[6] = 0;
  stored[7] = 0;
  stored.writeBigUInt64LE(BigInt(rawLength), 8);
  stored.set(payload, OBJECT_HEADER_BYTES);
  return stored;
}

/** A Buffer view of the same memory (no copy): the zstd binding's parameter type. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Builds STORE_CORRUPT errors that name the object (and file) in one line. */
function corruptionReporter(id: ObjectId | undefined, file: string | undefined) {
  const name = `${id === undefined ? 'object' : `object ${id}`}${file === undefined ? '' : ` (${file})`}`;
  return (problem: string, cause?: unknown): StoreError => {
    const context: { file?: string; cause?: unknown } = {};
    if (file !== undefined) context.file = file;
    if (cause !== undefined) context.cause = cause;
    return new StoreError('STORE_CORRUPT', `${name}: ${problem}`, context);
  };
}
