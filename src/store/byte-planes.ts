// Byte grouping (ZipNN): byte j of every element stored contiguously as "plane" j, and back. Kernels on the hot
// path of every put/get: native ones (native-kernels.ts) for large runs when built, else the JavaScript ones below.
// No I/O, no allocation beyond the output buffer.

import { Buffer } from 'node:buffer';
import { nativeKernels } from './native-kernels.js';

/** Element widths that objects can be grouped by. */
export type GroupWidth = 1 | 2 | 4 | 8;

/** Widths accepted in an object header (the element sizes of every dtype Weft stores). */
export const GROUP_WIDTHS: readonly GroupWidth[] = [1, 2, 4, 8];

/** The word-at-a-time loops below assume little-endian words (x64, arm64); elsewhere the byte loops run. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Elements per iteration of the word loops: 8 for width 2 (four 32-bit reads, two writes per plane), 4 for the
 * others (one 4×4 byte transpose). Unrolling width 2 to 8 elements measured 0.44 → 0.35 ns/byte.
 */
const WORD_UNIT: Record<GroupWidth, number> = { 1: 4, 2: 8, 4: 4, 8: 4 };

/** Planes shorter than this are joined from wherever they lie; longer misaligned ones are first copied. */
const REALIGN_MIN_BYTES = 4096;

/**
 * Runs of at least this many bytes go to the native kernels (when built). The call's fixed cost (argument checks,
 * ~0.2 µs) makes them lose below ~256 bytes and tie near it; at 1 KiB they are 2–3× faster, at 16 KiB 8–13×
 * (`npm run bench -- kernels`).
 */
const NATIVE_MIN_BYTES = 1024;

/**
 * Splits `src` (elements of `width` bytes) into `width` byte planes, written to `out` (default: a new buffer).
 * Plane j occupies `out[j*n .. (j+1)*n)` where n = src.length / width.
 *
 * @example
 * splitBytePlanes(Uint8Array.of(1, 2, 3, 4), 2) // → [1, 3, 2, 4]
 */
export function splitBytePlanes(src: Uint8Array, width: GroupWidth, out?: Uint8Array): Uint8Array {
  const dst = checkedOutput(src, width, out);
  splitPieces([src], width, planeViews(dst, width, src.length / width));
  return dst;
}

/**
 * Inverse of {@link splitBytePlanes}: interleaves `width` planes back into elements.
 *
 * @example
 * joinBytePlanes(Uint8Array.of(1, 3, 2, 4), 2) // → [1, 2, 3, 4]
 */
export function joinBytePlanes(planes: Uint8Array, width: GroupWidth, out?: Uint8Array): Uint8Array {
  const dst = checkedOutput(planes, width, out);
  joinPlanes(planeViews(planes, width, planes.length / width), width, dst);
  return dst;
}

/**
 * Splits the concatenation of `pieces` (elements of `width` bytes; an element may straddle two pieces) into the
 * `width` planes given, each `total / width` bytes long, without concatenating the pieces first.
 *
 * @example
 * const planes = [new Uint8Array(2), new Uint8Array(2)];
 * splitPieces([Uint8Array.of(1, 2, 3), Uint8Array.of(4)], 2, planes) // planes → [1, 3], [2, 4]
 */
export function splitPieces(pieces: readonly Uint8Array[], width: GroupWidth, planes: readonly Uint8Array[]): void {
  const total = checkedSplit(pieces, width, planes);
  // Width 1 is one copy (TypedArray.set) either way.
  const native = width !== 1 && total >= NATIVE_MIN_BYTES ? nativeKernels() : undefined;
  if (native) native.split(pieces, width, planes);
  else splitPiecesUnchecked(pieces, width, planes);
}

/** {@link splitPieces} with the JavaScript kernels only, whatever the size: the fallback, and tests' reference. */
export function splitPiecesJs(pieces: readonly Uint8Array[], width: GroupWidth, planes: readonly Uint8Array[]): void {
  checkedSplit(pieces, width, planes);
  splitPiecesUnchecked(pieces, width, planes);
}

/**
 * Interleaves `width` planes of equal length (each anywhere in memory) into `out`, which holds all elements.
 *
 * @example
 * joinPlanes([Uint8Array.of(1, 3), Uint8Array.of(2, 4)], 2, out) // out → [1, 2, 3, 4]
 */
export function joinPlanes(planes: readonly Uint8Array[], width: GroupWidth, out: Uint8Array): void {
  const n = checkedJoin(planes, width, out);
  const native = width !== 1 && out.length >= NATIVE_MIN_BYTES ? nativeKernels() : undefined;
  if (native) native.join(planes, width, out);
  else joinPlanesUnchecked(planes, n, width, out);
}

/** {@link joinPlanes} with the JavaScript kernels only, whatever the size: the fallback, and tests' reference. */
export function joinPlanesJs(planes: readonly Uint8Array[], width: GroupWidth, out: Uint8Array): void {
  joinPlanesUnchecked(planes, checkedJoin(planes, width, out), width, out);
}

/** Total input bytes, after checking that they fill the planes. */
function checkedSplit(pieces: readonly Uint8Array[], width: GroupWidth, planes: readonly Uint8Array[]): number {
  const n = checkedPlanes(planes, width);
  const total = pieces.reduce((sum, piece) => sum + piece.length, 0);
  if (total !== n * width) throw new RangeError(`byte planes: ${total} input bytes for ${width} planes of ${n}`);
  return total;
}

/** The plane length n, after checking that `out` holds n elements. */
function checkedJoin(planes: readonly Uint8Array[], width: GroupWidth, out: Uint8Array): number {
  const n = checkedPlanes(planes, width);
  if (out.length !== n * width) throw new RangeError(`byte planes: output has ${out.length} bytes, needs ${n * width}`);
  return n;
}

function splitPiecesUnchecked(pieces: readonly Uint8Array[], width: GroupWidth, planes: readonly Uint8Array[]): void {
  const carry = new Uint8Array(width);
  let carried = 0;
  let at = 0;
  for (const piece of pieces) {
    let from = 0;
    if (carried > 0) {
      // The slow path: an element whose bytes straddle the boundary between two pieces.
      from = Math.min(width - carried, piece.length);
      carry.set(piece.subarray(0, from), carried);
      carried += from;
      if (carried < width) continue;
      splitScalar(carry, 0, 1, planes, at++, width);
      carried = 0;
    }
    const count = Math.floor((piece.length - from) / width);
    splitRun(piece, from, count, planes, at, width);
    at += count;
    from += count * width;
    if (from < piece.length) {
      carry.set(piece.subarray(from), 0);
      carried = piece.length - from;
    }
  }
}

function joinPlanesUnchecked(planes: readonly Uint8Array[], n: number, width: GroupWidth, out: Uint8Array): void {
  // A plane at an odd address would force the byte loop on all of them; one memcpy costs far less.
  const aligned =
    n >= REALIGN_MIN_BYTES
      ? planes.map((p) => ((p.byteOffset & 3) === 0 ? p : Uint8Array.prototype.slice.call(p)))
      : planes;
  joinRun(aligned, 0, n, out, 0, width);
}

/** `width` consecutive views of `n` bytes over `bytes`, the layout {@link splitBytePlanes} writes. */
function planeViews(bytes: Uint8Array, width: number, n: number): Uint8Array[] {
  return Array.from({ length: width }, (_, j) => bytes.subarray(j * n, (j + 1) * n));
}

function checkedPlanes(planes: readonly Uint8Array[], width: GroupWidth): number {
  if (!GROUP_WIDTHS.includes(width)) throw new RangeError(`byte planes: width ${width} is not 1, 2, 4 or 8`);
  if (planes.length !== width) throw new RangeError(`byte planes: ${planes.length} planes for width ${width}`);
  const n = planes[0]!.length;
  if (planes.some((p) => p.length !== n)) throw new RangeError('byte planes: planes differ in length');
  return n;
}

function checkedOutput(src: Uint8Array, width: GroupWidth, out: Uint8Array | undefined): Uint8Array {
  if (!GROUP_WIDTHS.includes(width)) throw new RangeError(`byte planes: width ${width} is not 1, 2, 4 or 8`);
  if (src.length % width !== 0) {
    throw new RangeError(`byte planes: length ${src.length} is not a multiple of the width ${width}`);
  }
  if (out === undefined) return allocAligned(src.length);
  if (out.length !== src.length)
    throw new RangeError(`byte planes: output has ${out.length} bytes, needs ${src.length}`);
  if (out.buffer === src.buffer) throw new RangeError('byte planes: output must not share memory with the input');
  return out;
}

/** A fresh, uninitialised buffer at byte offset 0 of its own ArrayBuffer, so that 32-bit views are aligned. */
function allocAligned(length: number): Uint8Array {
  return Buffer.allocUnsafeSlow(length);
}

/** Whether 32-bit views fit: the element bytes at `byteOffset` and every plane at index `at` 4-byte aligned. */
function wordsFit(byteOffset: number, planes: readonly Uint8Array[], at: number): boolean {
  return LITTLE_ENDIAN && (byteOffset & 3) === 0 && planes.every((p) => ((p.byteOffset + at) & 3) === 0);
}

function words(bytes: Uint8Array, byteOffset: number, count: number): Uint32Array {
  return new Uint32Array(bytes.buffer, bytes.byteOffset + byteOffset, count);
}

/** Splits `count` elements at `src[from..]` into plane indices `at..`: byte loop up to alignment, then words. */
function splitRun(
  src: Uint8Array,
  from: number,
  count: number,
  planes: readonly Uint8Array[],
  at: number,
  width: GroupWidth,
): void {
  if (width === 1) {
    planes[0]!.set(src.subarray(from, from + count), at);
    return;
  }
  const head = Math.min(count, (4 - ((planes[0]!.byteOffset + at) & 3)) & 3);
  splitScalar(src, from, head, planes, at, width);
  from += head * width;
  at += head;
  count -= head;
  const unit = WORD_UNIT[width];
  const bulk = wordsFit(src.byteOffset + from, planes, at) ? count - (count % unit) : 0;
  if (bulk > 0) {
    const s = words(src, from, (bulk * width) >>> 2);
    const p = planes.map((plane) => words(plane, at, bulk >>> 2));
    if (width === 2) split2(s, p[0]!, p[1]!);
    else if (width === 4) transpose4(s, p[0]!, p[1]!, p[2]!, p[3]!, 4, 0, true);
    else {
      transpose4(s, p[0]!, p[1]!, p[2]!, p[3]!, 8, 0, true);
      transpose4(s, p[4]!, p[5]!, p[6]!, p[7]!, 8, 1, true);
    }
  }
  splitScalar(src, from + bulk * width, count - bulk, planes, at + bulk, width);
}

/** Joins plane indices `at..at+count` into the elements at `dst[to..]`; the mirror of {@link splitRun}. */
function joinRun(
  planes: readonly Uint8Array[],
  at: number,
  count: number,
  dst: Uint8Array,
  to: number,
  width: GroupWidth,
): void {
  if (width === 1) {
    dst.set(planes[0]!.subarray(at, at + count), to);
    return;
  }
  const head = Math.min(count, (4 - ((planes[0]!.byteOffset + at) & 3)) & 3);
  joinScalar(planes, at, head, dst, to, width);
  to += head * width;
  at += head;
  count -= head;
  const unit = WORD_UNIT[width];
  const bulk = wordsFit(dst.byteOffset + to, planes, at) ? count - (count % unit) : 0;
  if (bulk > 0) {
    const d = words(dst, to, (bulk * width) >>> 2);
    const p = planes.map((plane) => words(plane, at, bulk >>> 2));
    if (width === 2) join2(p[0]!, p[1]!, d);
    else if (width === 4) transpose4(d, p[0]!, p[1]!, p[2]!, p[3]!, 4, 0, false);
    else {
      transpose4(d, p[0]!, p[1]!, p[2]!, p[3]!, 8, 0, false);
      transpose4(d, p[4]!, p[5]!, p[6]!, p[7]!, 8, 1, false);
    }
  }
  joinScalar(planes, at + bulk, count - bulk, dst, to + bulk * width, width);
}

/** Eight 2-byte elements (four words) become two words of each plane; `p0.length` is even. */
function split2(s: Uint32Array, p0: Uint32Array, p1: Uint32Array): void {
  for (let i = 0, j = 0, end = p0.length; i < end; i += 2, j += 4) {
    const a = s[j]!;
    const b = s[j + 1]!;
    const c = s[j + 2]!;
    const d = s[j + 3]!;
    p0[i] = (a & 0xff) | ((a >>> 8) & 0xff00) | ((b & 0xff) << 16) | ((b << 8) & 0xff000000);
    p1[i] = ((a >>> 8) & 0xff) | ((a >>> 16) & 0xff00) | ((b << 8) & 0xff0000) | (b & 0xff000000);
    p0[i + 1] = (c & 0xff) | ((c >>> 8) & 0xff00) | ((d & 0xff) << 16) | ((d << 8) & 0xff000000);
    p1[i + 1] = ((c >>> 8) & 0xff) | ((c >>> 16) & 0xff00) | ((d << 8) & 0xff0000) | (d & 0xff000000);
  }
}

function join2(p0: Uint32Array, p1: Uint32Array, d: Uint32Array): void {
  for (let i = 0, j = 0, end = p0.length; i < end; i += 2, j += 4) {
    let lo = p0[i]!;
    let hi = p1[i]!;
    d[j] = (lo & 0xff) | ((hi & 0xff) << 8) | ((lo & 0xff00) << 8) | ((hi & 0xff00) << 16);
    d[j + 1] = ((lo >>> 16) & 0xff) | ((hi >>> 8) & 0xff00) | ((lo >>> 8) & 0xff0000) | (hi & 0xff000000);
    lo = p0[i + 1]!;
    hi = p1[i + 1]!;
    d[j + 2] = (lo & 0xff) | ((hi & 0xff) << 8) | ((lo & 0xff00) << 8) | ((hi & 0xff00) << 16);
    d[j + 3] = ((lo >>> 16) & 0xff) | ((hi >>> 8) & 0xff00) | ((lo >>> 8) & 0xff0000) | (hi & 0xff000000);
  }
}

/**
 * Four elements' words (every `step`-th word of `elems` from `first`, `step / 4` apart) form a 4×4 byte matrix;
 * transposing it turns them into one word of each plane and back (the transpose is its own inverse, only the
 * addressing differs). Width 4 uses every word; width 8 runs twice, on the low and on the high words. Two
 * rounds of masked swaps (bytes within pairs of rows, then 16-bit halves) measured 0.40 → 0.35 ns/byte against
 * assembling each plane word from four shifted bytes.
 */
function transpose4(
  elems: Uint32Array,
  p0: Uint32Array,
  p1: Uint32Array,
  p2: Uint32Array,
  p3: Uint32Array,
  step: number,
  first: number,
  toPlanes: boolean,
): void {
  const s = step >>> 2;
  if (toPlanes) {
    for (let i = 0, j = first, end = p0.length; i < end; i++, j += step) {
      let a = elems[j]!;
      let b = elems[j + s]!;
      let c = elems[j + 2 * s]!;
      let d = elems[j + 3 * s]!;
      let t = ((a >>> 8) ^ b) & 0x00ff00ff;
      a ^= t << 8;
      b ^= t;
      t = ((c >>> 8) ^ d) & 0x00ff00ff;
      c ^= t << 8;
      d ^= t;
      t = ((a >>> 16) ^ c) & 0xffff;
      a ^= t << 16;
      c ^= t;
      t = ((b >>> 16) ^ d) & 0xffff;
      b ^= t << 16;
      d ^= t;
      p0[i] = a;
      p1[i] = b;
      p2[i] = c;
      p3[i] = d;
    }
  } else {
    for (let i = 0, j = first, end = p0.length; i < end; i++, j += step) {
      let a = p0[i]!;
      let b = p1[i]!;
      let c = p2[i]!;
      let d = p3[i]!;
      let t = ((a >>> 8) ^ b) & 0x00ff00ff;
      a ^= t << 8;
      b ^= t;
      t = ((c >>> 8) ^ d) & 0x00ff00ff;
      c ^= t << 8;
      d ^= t;
      t = ((a >>> 16) ^ c) & 0xffff;
      a ^= t << 16;
      c ^= t;
      t = ((b >>> 16) ^ d) & 0xffff;
      b ^= t << 16;
      d ^= t;
      elems[j] = a;
      elems[j + s] = b;
      elems[j + 2 * s] = c;
      elems[j + 3 * s] = d;
    }
  }
}

function splitScalar(
  src: Uint8Array,
  from: number,
  count: number,
  planes: readonly Uint8Array[],
  at: number,
  width: number,
): void {
  for (let j = 0; j < width; j++) {
    const plane = planes[j]!;
    for (let i = 0, k = from + j; i < count; i++, k += width) plane[at + i] = src[k]!;
  }
}

function joinScalar(
  planes: readonly Uint8Array[],
  at: number,
  count: number,
  dst: Uint8Array,
  to: number,
  width: number,
): void {
  for (let j = 0; j < width; j++) {
    const plane = planes[j]!;
    for (let i = 0, k = to + j; i < count; i++, k += width) dst[k] = plane[at + i]!;
  }
}
