// The object format: a 16-byte header plus a raw, zstd or per-byte-plane payload, named by the SHA-256 of the
// stored bytes. Pure bytes ⇄ bytes (zstd runs on the calling thread: worker threads for large objects); no file I/O.

import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { StoreError } from '../errors.js';
import { GROUP_WIDTHS, type GroupWidth, joinBytePlanes, joinPlanes, splitPieces } from './byte-planes.js';
import { zstdCompress, zstdDecompressInto } from './zstd.js';
import { checkZstdFrame } from './zstd-frame.js';

export type { GroupWidth } from './byte-planes.js';

/** An object's name: SHA-256 of its stored bytes, 64 lowercase hex digits (also its Git LFS oid). */
export type ObjectId = string & { readonly __brand: 'ObjectId' };

/** Payload encodings; the byte at header offset 4 (0, 1, 2). */
export type ObjectCodec = 'raw' | 'zstd' | 'planes';

/** What a stored object's header says. */
export interface ObjectHeader {
  codec: ObjectCodec;
  /** Byte-plane width the payload was grouped by (always 1 for `raw`, 2, 4 or 8 for `planes`). */
  groupWidth: GroupWidth;
  /** Length of the object's bytes once decoded. */
  rawLength: number;
}

/**
 * Bytes before the payload: "WFT", version 1, codec, group width, 2 reserved zero bytes, u64 LE raw length.
 * The payload after it, by codec:
 * - 0 `raw`: the raw bytes (group width 1).
 * - 1 `zstd`: one zstd frame of the byte planes (see byte-planes.ts) concatenated; written for width 1 only now,
 *   read for every width (objects written before codec 2).
 * - 2 `planes` (width 2, 4 or 8): for each byte plane in order, an {@link PLANE_HEADER_BYTES}-byte plane header
 *   (u8 plane codec: 0 raw, 1 zstd; 3 reserved zero bytes; u32 LE stored length) and then the plane's stored
 *   bytes: the plane itself (exactly raw length / width bytes) or one zstd frame of it.
 */
export const OBJECT_HEADER_BYTES = 16;

/**
 * Bytes before each plane of a `planes` payload. The 3 reserved bytes keep planes 4-byte aligned in the common
 * layout (raw planes first, each a multiple of 4 bytes), so that they are joined in place with word loops.
 */
export const PLANE_HEADER_BYTES = 8;

/**
 * Largest raw length one object may declare. The header is checked before anything is allocated: without this
 * cap a few hostile bytes could claim (and a crafted zstd payload expand to) terabytes (zstd bomb, CWE-409).
 * Large tensors are split into several objects long before this size.
 */
export const MAX_OBJECT_RAW_BYTES = 1024 * 1024 * 1024;

/** A payload, or a plane, is stored compressed only if it is smaller than this fraction of its raw bytes. */
const MIN_SAVING_RATIO = 0.97;
/**
 * A plane is compressed only if its first this-many bytes compress by {@link MIN_SAVING_RATIO}: the mantissa
 * planes of weights do not compress at all (ratio 1.000), and zstd spends 1.4 ns/byte finding that out.
 */
const PLANE_SAMPLE_BYTES = 64 * 1024;
/** zstd level 1: levels 3 and 9 compress byte-grouped weights *worse* and slower (FORMATS.md). */
const ZSTD_LEVEL = 1;

const MAGIC = [0x57, 0x46, 0x54] as const; // "WFT"
const FORMAT_VERSION = 1;
const CODEC_BYTES: Record<ObjectCodec, number> = { raw: 0, zstd: 1, planes: 2 };
const CODECS: readonly ObjectCodec[] = ['raw', 'zstd', 'planes'];
const PLANE_RAW = 0;
const PLANE_ZSTD = 1;
const OBJECT_ID_PATTERN = /^[0-9a-f]{64}$/;

/**
 * Decoded zstd planes of up to this size go to a scratch buffer this thread keeps (they are joined into the output
 * at once): fresh memory costs a page fault per 4 KiB.
 */
const SCRATCH_MAX_BYTES = 8 * 1024 * 1024;
const scratch: Buffer[] = [];

/** Raw bytes to store: one buffer, or pieces (git's stream chunks) whose concatenation is the object. */
export type RawBytes = Uint8Array | readonly Uint8Array[];

/** Options of {@link decodeObject}. */
export interface DecodeObjectOptions {
  /** Verify that SHA-256 of `stored` is this id (STORE_CORRUPT if not); it also names the object in errors. */
  expectedId?: ObjectId;
  /** Name the object in errors without verifying its SHA-256 (the caller did, or chose not to). */
  id?: ObjectId;
  /** Reject an object whose header declares another raw length, before decompressing it. */
  expectedRawLength?: number;
  /** Where the bytes came from, for error messages. */
  file?: string;
  /**
   * Memory to join byte planes into when it is large enough (a recycled buffer: fresh memory costs a page fault
   * per 4 KiB). The result is then a view of it; raw objects and width-1 frames never use it.
   */
  into?: Uint8Array;
}

/**
 * Encodes raw bytes as a stored object. Elements of `groupWidth` bytes (falls back to 1 when the length is not
 * a multiple) are split into byte planes, each zstd-1 compressed or kept raw as it pays (codec `planes`); width 1
 * is one zstd frame (codec `zstd`). The whole is kept raw (codec `raw`) when that saves less than 3%. `raw` may be
 * a list of pieces (read in place, never concatenated for widths 2-8) and must not change until the promise
 * settles. Throws RangeError for a width other than 1, 2, 4, 8 or more than {@link MAX_OBJECT_RAW_BYTES} bytes
 * (callers split large tensors).
 *
 * @example
 * const stored = await encodeObject(bf16Bytes, 2);
 * const id = computeObjectId(stored);
 */
export async function encodeObject(raw: RawBytes, groupWidth: GroupWidth): Promise<Uint8Array> {
  const { pieces, rawLength, width } = checkEncodeArguments(raw, groupWidth);
  if (rawLength === 0) return assembleRaw(pieces, rawLength);
  if (width === 1) {
    return finishSingleFrame(zstdCompress(concatPieces(pieces, rawLength), ZSTD_LEVEL), pieces, rawLength);
  }
  const layout = new PlanesLayout(pieces, width, rawLength);
  const frames = layout.planes.map((plane) => {
    if (!samplePays(plane)) return undefined;
    const frame = zstdCompress(plane, ZSTD_LEVEL);
    return framePays(frame, plane.length) ? frame : undefined;
  });
  return layout.pack(frames) ?? assembleRaw(pieces, rawLength, layout.out);
}

/**
 * The same encoding as {@link encodeObject}, computed synchronously on the calling thread (worker threads use it,
 * so that the main thread only reads and hashes).
 */
export function encodeObjectSync(raw: RawBytes, groupWidth: GroupWidth): Uint8Array {
  const { pieces, rawLength, width } = checkEncodeArguments(raw, groupWidth);
  if (rawLength === 0) return assembleRaw(pieces, rawLength);
  if (width === 1) {
    return finishSingleFrame(zstdCompress(concatPieces(pieces, rawLength), ZSTD_LEVEL), pieces, rawLength);
  }
  const layout = new PlanesLayout(pieces, width, rawLength);
  const frames = layout.planes.map((plane) => {
    if (!samplePays(plane)) return undefined;
    const frame = zstdCompress(plane, ZSTD_LEVEL);
    return framePays(frame, plane.length) ? frame : undefined;
  });
  return layout.pack(frames) ?? assembleRaw(pieces, rawLength, layout.out);
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
  return decodeObjectSync(stored, options);
}

/** The same decoding as {@link decodeObject}, computed synchronously on the calling thread (worker threads). */
export function decodeObjectSync(stored: Uint8Array, options: DecodeObjectOptions = {}): Uint8Array {
  const plan = planDecode(stored, options);
  const frames = plan.frames.map((frame, k) => {
    // Planes are joined at once, so they may go to this thread's scratch memory; a whole result may not.
    const dst =
      frame.final || frame.size > SCRATCH_MAX_BYTES
        ? ((frame.final ? intoOf(options.into, frame.size) : undefined) ?? Buffer.allocUnsafeSlow(frame.size))
        : scratchOf(k, frame.size);
    let written: number;
    try {
      written = zstdDecompressInto(dst, frame.bytes);
    } catch (error) {
      throw plan.corrupt(`zstd payload does not decompress (${(error as Error).message})`, error);
    }
    return dst.subarray(0, written);
  });
  return plan.finish(frames);
}

/** Scratch buffer `k` of this thread, at least `size` bytes (a view of exactly `size`). */
function scratchOf(k: number, size: number): Uint8Array {
  let b = scratch[k];
  if (!b || b.length < size) {
    b = Buffer.allocUnsafeSlow(Math.max(size, Math.min(SCRATCH_MAX_BYTES, (b?.length ?? 0) * 2)));
    scratch[k] = b;
  }
  return b.subarray(0, size);
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

function checkEncodeArguments(raw: RawBytes, groupWidth: GroupWidth) {
  if (!GROUP_WIDTHS.includes(groupWidth)) {
    throw new RangeError(`encodeObject: group width ${groupWidth} is not 1, 2, 4 or 8`);
  }
  const pieces: readonly Uint8Array[] = ArrayBuffer.isView(raw) ? [raw] : raw;
  const rawLength = pieces.reduce((sum, piece) => sum + piece.length, 0);
  if (rawLength > MAX_OBJECT_RAW_BYTES) {
    throw new RangeError(`encodeObject: ${rawLength} bytes exceed MAX_OBJECT_RAW_BYTES (${MAX_OBJECT_RAW_BYTES})`);
  }
  const width: GroupWidth = rawLength % groupWidth === 0 ? groupWidth : 1;
  return { pieces, rawLength, width };
}

/** Whether a plane's first {@link PLANE_SAMPLE_BYTES} compress well enough to try the whole plane. */
function samplePays(plane: Uint8Array): boolean {
  if (plane.length <= PLANE_SAMPLE_BYTES) return true; // the sample would be the plane: compress it once
  const sample = plane.subarray(0, PLANE_SAMPLE_BYTES);
  return zstdCompress(sample, ZSTD_LEVEL).length < sample.length * MIN_SAVING_RATIO;
}

/** Whether a zstd frame of `rawLength` bytes is worth storing (and one that our own reader accepts). */
function framePays(frame: Uint8Array, rawLength: number): boolean {
  return frame.length < rawLength * MIN_SAVING_RATIO && checkZstdFrame(frame, rawLength) === undefined;
}

function finishSingleFrame(payload: Uint8Array, pieces: readonly Uint8Array[], rawLength: number): Uint8Array {
  if (!framePays(payload, rawLength)) return assembleRaw(pieces, rawLength);
  const stored = Buffer.allocUnsafeSlow(OBJECT_HEADER_BYTES + payload.length);
  writeHeader(stored, 'zstd', 1, rawLength);
  stored.set(payload, OBJECT_HEADER_BYTES);
  return stored;
}

/**
 * The byte planes of one object, transposed straight into the buffer that becomes the stored object: plane j
 * waits at its slot `OBJECT_HEADER_BYTES + PLANE_HEADER_BYTES + j * stride`, and {@link PlanesLayout.pack}
 * then writes headers, frames and raw planes front to back over it. A frame is shorter than its plane, so it
 * never reaches a plane still to be read; raw planes before any frame (the mantissa planes of weights) do not
 * move at all. This saves the separate byte-plane buffer and the copy of the payload behind a header.
 */
class PlanesLayout {
  readonly out: Buffer;
  readonly planes: Uint8Array[];
  private readonly stride: number;

  constructor(
    pieces: readonly Uint8Array[],
    private readonly width: GroupWidth,
    private readonly rawLength: number,
  ) {
    const n = rawLength / width;
    // Slots are 4-byte aligned (for the word loops) whatever n is.
    this.stride = PLANE_HEADER_BYTES + ((n + 3) & ~3);
    // Its own ArrayBuffer (never a slice of Node's shared pool), so it can be transferred between threads.
    this.out = Buffer.allocUnsafeSlow(OBJECT_HEADER_BYTES + width * this.stride);
    this.planes = Array.from({ length: width }, (_, j) => this.out.subarray(this.slot(j), this.slot(j) + n));
    splitPieces(pieces, width, this.planes);
  }

  /**
   * Packs the stored object, with `frames[j]` (shorter than the plane) standing for plane j or `undefined` to
   * keep it raw; `undefined` if the result would save less than 3% (then store the object raw).
   */
  pack(frames: readonly (Uint8Array | undefined)[]): Uint8Array | undefined {
    const n = this.rawLength / this.width;
    const payloadBytes = frames.reduce((sum, frame) => sum + PLANE_HEADER_BYTES + (frame?.length ?? n), 0);
    if (!(payloadBytes < this.rawLength * MIN_SAVING_RATIO)) return undefined;
    const out = this.out;
    let cursor = OBJECT_HEADER_BYTES;
    for (let j = 0; j < this.width; j++) {
      const frame = frames[j];
      out[cursor] = frame === undefined ? PLANE_RAW : PLANE_ZSTD;
      out.fill(0, cursor + 1, cursor + 4);
      out.writeUInt32LE(frame?.length ?? n, cursor + 4);
      cursor += PLANE_HEADER_BYTES;
      if (frame !== undefined) out.set(frame, cursor);
      else if (cursor !== this.slot(j)) out.copyWithin(cursor, this.slot(j), this.slot(j) + n);
      cursor += frame?.length ?? n;
    }
    writeHeader(out, 'planes', this.width, this.rawLength);
    return out.subarray(0, cursor);
  }

  private slot(j: number): number {
    return OBJECT_HEADER_BYTES + PLANE_HEADER_BYTES + j * this.stride;
  }
}

/** A raw object: header and the pieces' bytes, in `into` (large enough) or a new buffer. */
function assembleRaw(pieces: readonly Uint8Array[], rawLength: number, into?: Buffer): Uint8Array {
  // Its own ArrayBuffer (never a slice of Node's shared pool), so it can be transferred between threads.
  const stored = into ?? Buffer.allocUnsafeSlow(OBJECT_HEADER_BYTES + rawLength);
  writeHeader(stored, 'raw', 1, rawLength);
  let at = OBJECT_HEADER_BYTES;
  for (const piece of pieces) {
    stored.set(piece, at);
    at += piece.length;
  }
  return stored.subarray(0, at);
}

function concatPieces(pieces: readonly Uint8Array[], rawLength: number): Uint8Array {
  if (pieces.length === 1) return pieces[0]!;
  const out = Buffer.allocUnsafe(rawLength);
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}

/** What is left of decoding once the header and payload structure are checked: frames to decompress. */
interface DecodePlan {
  /**
   * zstd frames, each checked to regenerate at most its plane's (or the payload's) length plus 256 KiB, with the
   * length it must decode to (`size`: it is decoded into exactly that much memory) and whether the decoded frame
   * is the result itself (`final`) rather than planes to join.
   */
  frames: { bytes: Uint8Array; size: number; final: boolean }[];
  /** Builds the raw bytes from the decompressed frames (in the order of `frames`), checking their lengths. */
  finish(decoded: readonly Uint8Array[]): Uint8Array;
  corrupt: (problem: string, cause?: unknown) => StoreError;
}

function planDecode(stored: Uint8Array, options: DecodeObjectOptions): DecodePlan {
  const { expectedId, expectedRawLength, file } = options;
  const corrupt = corruptionReporter(expectedId ?? options.id, file);
  if (expectedId !== undefined) {
    const actual = computeObjectId(stored);
    if (actual !== expectedId) throw corrupt(`SHA-256 of the stored bytes is ${actual}; fetch the object again`);
  }
  const header = readHeader(stored, corrupt);
  if (expectedRawLength !== undefined && header.rawLength !== expectedRawLength) {
    throw corrupt(`header declares ${header.rawLength} raw bytes, expected ${expectedRawLength}`);
  }
  const payload = stored.subarray(OBJECT_HEADER_BYTES);
  const { rawLength, groupWidth } = header;
  if (header.codec === 'raw') {
    checkPayload(stored, header, corrupt);
    return { frames: [], finish: () => payload, corrupt };
  }
  if (header.codec === 'zstd') {
    checkPayload(stored, header, corrupt);
    const finish = ([grouped]: readonly Uint8Array[]) => {
      checkDecodedLength(grouped!, rawLength, 'payload', corrupt);
      return groupWidth === 1 ? grouped! : joinBytePlanes(grouped!, groupWidth, intoOf(options.into, rawLength));
    };
    return { frames: [{ bytes: payload, size: rawLength, final: groupWidth === 1 }], finish, corrupt };
  }
  const planes = readPlanes(payload, header, corrupt);
  const zstdPlanes = planes.filter((plane) => plane.codec === PLANE_ZSTD);
  const finish = (decoded: readonly Uint8Array[]) => {
    const n = rawLength / groupWidth;
    const bytes = planes.map((plane) => {
      if (plane.codec === PLANE_RAW) return plane.bytes;
      const plain = decoded[zstdPlanes.indexOf(plane)]!;
      checkDecodedLength(plain, n, `plane ${plane.index}`, corrupt);
      return plain;
    });
    const out = intoOf(options.into, rawLength) ?? Buffer.allocUnsafeSlow(rawLength);
    joinPlanes(bytes, groupWidth, out);
    return out;
  };
  const frames = zstdPlanes.map((plane) => ({ bytes: plane.bytes, size: rawLength / groupWidth, final: false }));
  return { frames, finish, corrupt };
}

/** The first `rawLength` bytes of `into`, when it is that large. */
function intoOf(into: Uint8Array | undefined, rawLength: number): Uint8Array | undefined {
  return into && into.length >= rawLength ? into.subarray(0, rawLength) : undefined;
}

function checkDecodedLength(
  decoded: Uint8Array,
  expected: number,
  what: string,
  corrupt: (problem: string) => StoreError,
): void {
  if (decoded.length !== expected) {
    throw corrupt(`${what} decompresses to ${decoded.length} bytes, the header declares ${expected}`);
  }
}

interface StoredPlane {
  index: number;
  codec: typeof PLANE_RAW | typeof PLANE_ZSTD;
  bytes: Uint8Array;
}

/**
 * Splits a `planes` payload into its planes, checking every plane header against the bytes that remain before
 * anything is allocated: a raw plane holds exactly its length, a zstd plane is one frame whose block count
 * bounds its output by the plane's length (see checkZstdFrame), and no byte follows the last plane.
 */
function readPlanes(
  payload: Uint8Array,
  header: ObjectHeader,
  corrupt: (problem: string) => StoreError,
): StoredPlane[] {
  const n = header.rawLength / header.groupWidth;
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const planes: StoredPlane[] = [];
  let pos = 0;
  for (let index = 0; index < header.groupWidth; index++) {
    if (pos + PLANE_HEADER_BYTES > payload.length) throw corrupt(`plane ${index} header is truncated`);
    const codec = payload[pos]!;
    if (codec !== PLANE_RAW && codec !== PLANE_ZSTD) throw corrupt(`plane ${index} has unknown codec ${codec}`);
    if (payload[pos + 1] !== 0 || payload[pos + 2] !== 0 || payload[pos + 3] !== 0) {
      throw corrupt(`plane ${index} header has reserved bytes that are not zero`);
    }
    const length = view.getUint32(pos + 4, true);
    pos += PLANE_HEADER_BYTES;
    if (length > payload.length - pos) {
      throw corrupt(`plane ${index} declares ${length} stored bytes, only ${payload.length - pos} follow`);
    }
    const bytes = payload.subarray(pos, pos + length);
    pos += length;
    if (codec === PLANE_RAW && length !== n) {
      throw corrupt(`raw plane ${index} has ${length} bytes, the plane has ${n}`);
    }
    const frameProblem = codec === PLANE_ZSTD ? checkZstdFrame(bytes, n) : undefined;
    if (frameProblem !== undefined) throw corrupt(`plane ${index}: ${frameProblem}`);
    planes.push({ index, codec, bytes });
  }
  if (pos !== payload.length) throw corrupt(`${payload.length - pos} bytes follow the last plane`);
  return planes;
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
  const codec = CODECS[codecByte];
  if (codec === undefined) throw corrupt(`unknown codec ${codecByte}`);
  const widthByte = stored[5]!;
  const groupWidth = GROUP_WIDTHS.find((w) => w === widthByte);
  if (groupWidth === undefined) throw corrupt(`group width ${widthByte} is not 1, 2, 4 or 8`);
  if (codec === 'raw' && groupWidth !== 1) throw corrupt(`a raw payload has group width ${groupWidth}, not 1`);
  if (codec === 'planes' && groupWidth === 1) throw corrupt('a planes payload has group width 1, not 2, 4 or 8');
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

/**
 * Checks that the payload can hold the header's raw length: exact for raw, one bounded frame for zstd, and for
 * planes every plane (see {@link readPlanes}).
 */
function checkPayload(stored: Uint8Array, header: ObjectHeader, corrupt: (problem: string) => StoreError): void {
  const payload = stored.subarray(OBJECT_HEADER_BYTES);
  if (header.codec === 'raw' && payload.length !== header.rawLength) {
    throw corrupt(`raw payload has ${payload.length} bytes, the header declares ${header.rawLength}`);
  }
  if (header.codec === 'planes') readPlanes(payload, header, corrupt);
  const frameProblem = header.codec === 'zstd' ? checkZstdFrame(payload, header.rawLength) : undefined;
  if (frameProblem !== undefined) throw corrupt(frameProblem);
}

function writeHeader(stored: Buffer, codec: ObjectCodec, width: GroupWidth, rawLength: number): void {
  stored.set(MAGIC, 0);
  stored[3] = FORMAT_VERSION;
  stored[4] = CODEC_BYTES[codec];
  stored[5] = width;
  stored[6] = 0;
  stored[7] = 0;
  stored.writeBigUInt64LE(BigInt(rawLength), 8);
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
