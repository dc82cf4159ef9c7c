// Byte grouping (ZipNN): byte j of every element stored contiguously as "plane" j, and back. Pure kernels on
// the hot path of every put/get: no I/O, no allocation beyond the output buffer.

import { Buffer } from 'node:buffer';

/** Element widths that objects can be grouped by. */
export type GroupWidth = 1 | 2 | 4 | 8;

/** Widths accepted in an object header (the element sizes of every dtype Weft stores). */
export const GROUP_WIDTHS: readonly GroupWidth[] = [1, 2, 4, 8];

/** The word-at-a-time loops below assume little-endian words (x64, arm64); elsewhere the byte loops run. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Splits `src` (elements of `width` bytes) into `width` byte planes, written to `out` (default: a new buffer).
 * Plane j occupies `out[j*n .. (j+1)*n)` where n = src.length / width.
 *
 * @example
 * splitBytePlanes(Uint8Array.of(1, 2, 3, 4), 2) // → [1, 3, 2, 4]
 */
export function splitBytePlanes(src: Uint8Array, width: GroupWidth, out?: Uint8Array): Uint8Array {
  const dst = checkedOutput(src, width, out);
  const n = src.length / width;
  if (width === 1) {
    dst.set(src);
  } else if (width === 2) {
    split2(src, dst, n);
  } else if (width === 4) {
    split4(src, dst, n);
  } else {
    splitGeneric(src, dst, n, width);
  }
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
  const n = planes.length / width;
  if (width === 1) {
    dst.set(planes);
  } else if (width === 2) {
    join2(planes, dst, n);
  } else if (width === 4) {
    join4(planes, dst, n);
  } else {
    joinGeneric(planes, dst, n, width);
  }
  return dst;
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

/** Whole 4-element groups can be moved as 32-bit words when every view is 4-byte aligned. */
function wordAligned(a: Uint8Array, b: Uint8Array, n: number): boolean {
  return LITTLE_ENDIAN && a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0 && n % 4 === 0;
}

function split2(src: Uint8Array, dst: Uint8Array, n: number): void {
  if (!wordAligned(src, dst, n)) {
    splitGeneric(src, dst, n, 2);
    return;
  }
  // Two 32-bit reads hold elements 4i..4i+3; one 32-bit write per plane.
  const groups = n >>> 2;
  const s = new Uint32Array(src.buffer, src.byteOffset, groups * 2);
  const p0 = new Uint32Array(dst.buffer, dst.byteOffset, groups);
  const p1 = new Uint32Array(dst.buffer, dst.byteOffset + n, groups);
  for (let i = 0, j = 0; i < groups; i++, j += 2) {
    const a = s[j]!;
    const b = s[j + 1]!;
    p0[i] = (a & 0xff) | ((a >>> 8) & 0xff00) | ((b & 0xff) << 16) | ((b << 8) & 0xff000000);
    p1[i] = ((a >>> 8) & 0xff) | ((a >>> 16) & 0xff00) | ((b << 8) & 0xff0000) | (b & 0xff000000);
  }
}

function join2(src: Uint8Array, dst: Uint8Array, n: number): void {
  if (!wordAligned(src, dst, n)) {
    joinGeneric(src, dst, n, 2);
    return;
  }
  const groups = n >>> 2;
  const p0 = new Uint32Array(src.buffer, src.byteOffset, groups);
  const p1 = new Uint32Array(src.buffer, src.byteOffset + n, groups);
  const d = new Uint32Array(dst.buffer, dst.byteOffset, groups * 2);
  for (let i = 0, j = 0; i < groups; i++, j += 2) {
    const lo = p0[i]!;
    const hi = p1[i]!;
    d[j] = (lo & 0xff) | ((hi & 0xff) << 8) | ((lo & 0xff00) << 8) | ((hi & 0xff00) << 16);
    d[j + 1] = ((lo >>> 16) & 0xff) | ((hi >>> 8) & 0xff00) | ((lo >>> 8) & 0xff0000) | (hi & 0xff000000);
  }
}

function split4(src: Uint8Array, dst: Uint8Array, n: number): void {
  if (!wordAligned(src, dst, n)) {
    splitGeneric(src, dst, n, 4);
    return;
  }
  transpose4x4(src, dst, n, true);
}

function join4(src: Uint8Array, dst: Uint8Array, n: number): void {
  if (!wordAligned(src, dst, n)) {
    joinGeneric(src, dst, n, 4);
    return;
  }
  transpose4x4(src, dst, n, false);
}

/**
 * Four 4-byte elements form a 4×4 byte matrix; transposing it turns elements into plane words and back (the
 * transpose is its own inverse, only the addressing differs).
 */
function transpose4x4(src: Uint8Array, dst: Uint8Array, n: number, toPlanes: boolean): void {
  const groups = n >>> 2;
  const words = new Uint32Array((toPlanes ? src : dst).buffer, (toPlanes ? src : dst).byteOffset, n);
  const planes = toPlanes ? dst : src;
  const p0 = new Uint32Array(planes.buffer, planes.byteOffset, groups);
  const p1 = new Uint32Array(planes.buffer, planes.byteOffset + n, groups);
  const p2 = new Uint32Array(planes.buffer, planes.byteOffset + 2 * n, groups);
  const p3 = new Uint32Array(planes.buffer, planes.byteOffset + 3 * n, groups);
  if (toPlanes) {
    for (let i = 0, j = 0; i < groups; i++, j += 4) {
      const a = words[j]!;
      const b = words[j + 1]!;
      const c = words[j + 2]!;
      const d = words[j + 3]!;
      p0[i] = (a & 0xff) | ((b & 0xff) << 8) | ((c & 0xff) << 16) | (d << 24);
      p1[i] = ((a >>> 8) & 0xff) | (b & 0xff00) | ((c & 0xff00) << 8) | ((d & 0xff00) << 16);
      p2[i] = ((a >>> 16) & 0xff) | ((b >>> 8) & 0xff00) | (c & 0xff0000) | ((d & 0xff0000) << 8);
      p3[i] = (a >>> 24) | ((b >>> 16) & 0xff00) | ((c >>> 8) & 0xff0000) | (d & 0xff000000);
    }
  } else {
    for (let i = 0, j = 0; i < groups; i++, j += 4) {
      const a = p0[i]!;
      const b = p1[i]!;
      const c = p2[i]!;
      const d = p3[i]!;
      words[j] = (a & 0xff) | ((b & 0xff) << 8) | ((c & 0xff) << 16) | (d << 24);
      words[j + 1] = ((a >>> 8) & 0xff) | (b & 0xff00) | ((c & 0xff00) << 8) | ((d & 0xff00) << 16);
      words[j + 2] = ((a >>> 16) & 0xff) | ((b >>> 8) & 0xff00) | (c & 0xff0000) | ((d & 0xff0000) << 8);
      words[j + 3] = (a >>> 24) | ((b >>> 16) & 0xff00) | ((c >>> 8) & 0xff0000) | (d & 0xff000000);
    }
  }
}

function splitGeneric(src: Uint8Array, dst: Uint8Array, n: number, width: number): void {
  for (let i = 0, k = 0; i < n; i++) {
    for (let j = 0, o = i; j < width; j++, o += n) dst[o] = src[k++]!;
  }
}

function joinGeneric(src: Uint8Array, dst: Uint8Array, n: number, width: number): void {
  for (let i = 0, k = 0; i < n; i++) {
    for (let j = 0, o = i; j < width; j++, o += n) dst[k++] = src[o]!;
  }
}
