// Materialises strided views (PyTorch non-contiguous tensors, NumPy Fortran order) as row-major bytes, and swaps
// byte order. Pure: bounds are checked before any copy, since shapes, strides and offsets come from files.

import { FormatError } from '../errors.js';
import type { ShapeContext } from './shape.js';
import { describeTensor, formatDims, isContiguous, numelOf } from './shape.js';

/** Runs at least this long are copied with `TypedArray.set`; shorter ones byte by byte (cheaper per call). */
const SET_MIN_BYTES = 64;

function copyRun(src: Uint8Array, from: number, dst: Uint8Array, to: number, length: number): void {
  if (length >= SET_MIN_BYTES) dst.set(src.subarray(from, from + length), to);
  else for (let k = 0; k < length; k++) dst[to + k] = src[from + k]!;
}

/**
 * The elements of a strided view, in row-major order: element `[i0, i1, …]` is read at element index
 * `offsetElements + Σ ik·strides[k]` of `bytes`. Strides are in elements and may be zero or negative.
 * Throws FormatError `FORMAT_BAD_SHAPE` for a bad shape and `FORMAT_BAD_OFFSETS` for strides or an offset that
 * are not integers, do not match the shape, or reach outside `bytes`.
 *
 * @example gatherRowMajor(new Uint8Array([1, 2, 3, 4, 5, 6]), 1, [2, 3], [1, 2], 0) // [1, 3, 5, 2, 4, 6]
 */
export function gatherRowMajor(
  bytes: Uint8Array,
  elementSize: number,
  shape: readonly number[],
  strides: readonly number[],
  offsetElements: number,
  context: ShapeContext = {},
): Uint8Array {
  if (!Number.isSafeInteger(elementSize) || elementSize < 1) throw new RangeError(`bad element size ${elementSize}`);
  const numel = numelOf(shape, context);
  const bad = (why: string): FormatError =>
    new FormatError(
      'FORMAT_BAD_OFFSETS',
      `${describeTensor(context)} with shape ${formatDims(shape)}, strides ${formatDims(strides)} and offset ${offsetElements} ${why}`,
      context,
    );
  if (strides.length !== shape.length) throw bad(`has ${strides.length} strides for ${shape.length} dimensions`);
  if (!Number.isSafeInteger(offsetElements) || offsetElements < 0) throw bad('has a bad offset');
  if (!strides.every((s) => Number.isSafeInteger(s))) throw bad('has a stride that is not an integer');
  if (numel === 0) return new Uint8Array(0);

  // Exact reach of the view (BigInt: strides are untrusted and their products may pass 2^53).
  let first = BigInt(offsetElements);
  let last = first;
  for (let k = 0; k < shape.length; k++) {
    const span = BigInt(shape[k]! - 1) * BigInt(strides[k]!);
    if (span < 0n) first += span;
    else last += span;
  }
  if (first < 0n) throw bad(`reaches element ${first}, before the start of its storage`);
  const endByte = (last + 1n) * BigInt(elementSize);
  if (endByte > BigInt(bytes.length)) {
    throw bad(`ends at byte ${endByte} but its storage has ${bytes.length} bytes`);
  }

  const es = elementSize;
  if (isContiguous(shape, strides)) return bytes.slice(offsetElements * es, (offsetElements + numel) * es);

  // Drop size-1 dimensions and merge neighbours that step as one, so the inner loop is as long as possible.
  const dims: number[] = [];
  const steps: number[] = [];
  for (let k = 0; k < shape.length; k++) {
    const n = shape[k]!;
    const s = strides[k]!;
    if (n === 1) continue;
    const j = dims.length - 1;
    if (j >= 0 && steps[j] === n * s) {
      dims[j] = dims[j]! * n;
      steps[j] = s;
    } else {
      dims.push(n);
      steps.push(s);
    }
  }
  const out = new Uint8Array(numel * es);
  const rank = dims.length;
  const innerN = rank === 0 ? 1 : dims[rank - 1]!;
  const innerStep = (rank === 0 ? 1 : steps[rank - 1]!) * es;
  const outer = rank - 1;
  const index = new Array<number>(Math.max(outer, 0)).fill(0);
  let base = offsetElements;
  let to = 0;
  for (let done = 0; done < numel; done += innerN) {
    let from = base * es;
    if (innerStep === es) {
      copyRun(bytes, from, out, to, innerN * es);
      to += innerN * es;
    } else if (es === 1) {
      for (let j = 0; j < innerN; j++, from += innerStep) out[to++] = bytes[from]!;
    } else {
      for (let j = 0; j < innerN; j++, from += innerStep) for (let k = 0; k < es; k++) out[to++] = bytes[from + k]!;
    }
    for (let d = outer - 1; d >= 0; d--) {
      const i = index[d]! + 1;
      base += steps[d]!;
      if (i < dims[d]!) {
        index[d] = i;
        break;
      }
      base -= steps[d]! * dims[d]!;
      index[d] = 0;
    }
  }
  return out;
}

/**
 * A copy of `bytes` with the byte order of every `elementSize`-byte element reversed (big- ⇄ little-endian).
 *
 * @example byteswap(new Uint8Array([1, 2, 3, 4]), 2) // [2, 1, 4, 3]
 */
export function byteswap(bytes: Uint8Array, elementSize: number): Uint8Array {
  if (!Number.isSafeInteger(elementSize) || elementSize < 1 || bytes.length % elementSize !== 0) {
    throw new RangeError(`${bytes.length} bytes are not a whole number of ${elementSize}-byte elements`);
  }
  const out = new Uint8Array(bytes.length);
  if (elementSize === 1) {
    out.set(bytes);
    return out;
  }
  for (let i = 0; i < bytes.length; i += elementSize) {
    for (let k = 0; k < elementSize; k++) out[i + k] = bytes[i + elementSize - 1 - k]!;
  }
  return out;
}
