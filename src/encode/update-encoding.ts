// Exact update encodings: a tensor version stored as a cheap description of how it differs from its parent
// (XOR delta, sparse patch, low-rank factors + residual, row/column scaling + residual). Pure: bytes in, bytes out;
// decoding reproduces the committed bytes exactly (callers verify the content id).

import { StoreError } from '../errors.js';
import { decodeToF32, encodeFromF32 } from '../tensor/convert.js';
import { type Dtype, dtypeSize, isDtype } from '../tensor/dtype.js';

/** Stored payload parts of an encoding: the main `refs` and named extra parts (as in a manifest line). */
export type PayloadKey = 'refs' | 'a' | 'b' | 'd' | 'f' | 'idx' | 'v';

/** One payload to store, with the byte-group width its object should use. */
export interface PayloadPart {
  key: PayloadKey;
  bytes: Uint8Array;
  width: 1 | 2 | 4 | 8;
}

/** An encoding before its payloads are stored: kind, parameters (without `parent`/`depth`) and payloads. */
export interface EncodedUpdate {
  kind: 'delta' | 'lowrank' | 'scale';
  params: Record<string, string>;
  parts: PayloadPart[];
}

/** A sparse patch is chosen over a full XOR when at most this fraction of elements changed. */
export const SPARSE_MAX_FRACTION = 0.1;

/** Dtypes whose values low-rank and scaling predictions compute on (float32 arithmetic is exact enough). */
const PREDICTABLE: ReadonlySet<Dtype> = new Set(['F32', 'F16', 'BF16']);

/** True when low-rank and scale encodings apply to tensors of this dtype. */
export function isPredictableDtype(dtype: Dtype): boolean {
  return PREDICTABLE.has(dtype);
}

function widthOf(size: number): 1 | 2 | 4 | 8 {
  return size === 2 || size === 4 || size === 8 ? size : 1;
}

/** `target ^= other`, byte for byte (word at a time when aligned). Lengths must match. */
export function xorInto(target: Uint8Array, other: Uint8Array): void {
  const n = target.length;
  if (other.length !== n) throw new RangeError(`xor of ${n} and ${other.length} bytes`);
  let i = 0;
  if (target.byteOffset % 4 === 0 && other.byteOffset % 4 === 0) {
    const words = n >>> 2;
    const t = new Uint32Array(target.buffer, target.byteOffset, words);
    const o = new Uint32Array(other.buffer, other.byteOffset, words);
    for (let w = 0; w < words; w++) t[w]! ^= o[w]!;
    i = words << 2;
  }
  for (; i < n; i++) target[i]! ^= other[i]!;
}

/** Number of elements (of `width` bytes) that are not all-zero in an XOR difference. */
export function countChangedElements(xor: Uint8Array, width: number): number {
  let count = 0;
  const n = xor.length / width;
  if (width === 4 && xor.byteOffset % 4 === 0) {
    const w = new Uint32Array(xor.buffer, xor.byteOffset, n);
    for (let i = 0; i < n; i++) if (w[i] !== 0) count++;
    return count;
  }
  if (width === 2 && xor.byteOffset % 2 === 0) {
    const w = new Uint16Array(xor.buffer, xor.byteOffset, n);
    for (let i = 0; i < n; i++) if (w[i] !== 0) count++;
    return count;
  }
  for (let i = 0; i < n; i++) {
    for (let b = 0; b < width; b++) {
      if (xor[i * width + b] !== 0) {
        count++;
        break;
      }
    }
  }
  return count;
}

/**
 * The patch that turns a prediction into the target, from their XOR: nothing, a sparse list (positions as u32
 * gaps + XOR values) or the whole XOR. Adds its parameters and payloads to `into`.
 */
function addPatch(into: EncodedUpdate, xor: Uint8Array, width: number): void {
  const numel = xor.length / width;
  const changed = countChangedElements(xor, width);
  if (changed === 0) {
    into.params.patch = 'none';
    return;
  }
  if (changed <= SPARSE_MAX_FRACTION * numel && numel <= 0xffffffff) {
    const gaps = new Uint8Array(changed * 4);
    const gapView = new DataView(gaps.buffer);
    const values = new Uint8Array(changed * width);
    let k = 0;
    let last = 0;
    for (let i = 0; i < numel; i++) {
      let nonzero = false;
      for (let b = 0; b < width; b++) {
        if (xor[i * width + b] !== 0) {
          nonzero = true;
          break;
        }
      }
      if (!nonzero) continue;
      gapView.setUint32(k * 4, k === 0 ? i : i - last, true);
      values.set(xor.subarray(i * width, (i + 1) * width), k * width);
      last = i;
      k++;
    }
    into.params.patch = 'sparse';
    into.params.nnz = String(changed);
    into.parts.push({ key: 'idx', bytes: gaps, width: 4 }, { key: 'refs', bytes: values, width: widthOf(width) });
    return;
  }
  into.params.patch = 'xor';
  into.parts.push({ key: 'refs', bytes: xor, width: widthOf(width) });
}

/**
 * An exact delta of `target` against `parent` (same dtype and size): a sparse patch when few elements changed,
 * else the byte-grouped XOR (which the store compresses: unchanged exponent bytes XOR to zero).
 *
 * @example const update = encodeDelta({ parent, target, dtype: 'BF16' });
 */
export function encodeDelta(options: { parent: Uint8Array; target: Uint8Array; dtype: Dtype }): EncodedUpdate {
  const { parent, target } = options;
  if (parent.length !== target.length) throw new RangeError('delta of tensors of different sizes');
  const xor = new Uint8Array(target);
  xorInto(xor, parent);
  const update: EncodedUpdate = { kind: 'delta', params: {}, parts: [] };
  addPatch(update, xor, dtypeSize(options.dtype));
  return update;
}

/** Low-rank factors of a change: `target ≈ round(parent + scale · left · right)`. */
export interface LowRankUpdate {
  rows: number;
  cols: number;
  rank: number;
  /** rows × rank, row-major (PEFT's lora_B). */
  left: Float32Array;
  /** rank × cols, row-major (PEFT's lora_A). */
  right: Float32Array;
  scale: number;
}

/**
 * The tensor `round(parent + scale · left · right)`, computed in float32 in a fixed order: for each element the
 * product sum runs over the rank ascending with a fused multiply-add (one rounding per step), then it is scaled
 * (rounded to float32), added to the parent value (rounded), and rounded to `dtype` (nearest-even).
 */
export function predictLowRank(options: { parent: Uint8Array; dtype: Dtype; update: LowRankUpdate }): Uint8Array {
  return predictLowRankValues(options).bytes;
}

/** {@link predictLowRank}, also returning the float32 value each element had before rounding to `dtype`. */
function predictLowRankValues(options: { parent: Uint8Array; dtype: Dtype; update: LowRankUpdate }): {
  bytes: Uint8Array;
  values: Float32Array;
} {
  const { dtype, update } = options;
  const { rows, cols, rank, left, right } = update;
  const scale = Math.fround(update.scale);
  const width = dtypeSize(dtype);
  if (options.parent.length !== rows * cols * width) throw new RangeError('low-rank prediction: parent size');
  const out = new Uint8Array(options.parent.length);
  const values = new Float32Array(rows * cols);
  const acc = new Float32Array(cols);
  for (let o = 0; o < rows; o++) {
    acc.fill(0);
    for (let k = 0; k < rank; k++) {
      const bk = left[o * rank + k]!;
      if (bk === 0) continue;
      const ro = k * cols;
      // acc[c] + bk·right: the float64 product of two float32 values is exact, so storing the sum rounds once (FMA).
      for (let c = 0; c < cols; c++) acc[c]! += bk * right[ro + c]!;
    }
    const row = values.subarray(o * cols, (o + 1) * cols);
    decodeToF32(dtype, options.parent.subarray(o * cols * width, (o + 1) * cols * width), row);
    for (let c = 0; c < cols; c++) row[c]! += Math.fround(scale * acc[c]!);
    encodeFromF32(dtype, row, out.subarray(o * cols * width, (o + 1) * cols * width));
  }
  return { bytes: out, values };
}

/**
 * Rounding-cell flips (BF16): where a prediction misses the committed value, it is usually by one step, to the
 * other side of the rounding boundary its float32 value fell near. Elements are put in CELL_BUCKETS buckets by how
 * close to that boundary the value fell (its distance, in ulps, from the value it rounded to: 0 to ½); each bucket
 * holds one bit per element, in element order: "the committed value is the neighbour across the nearer boundary".
 * Buckets near the boundary flip often and buckets far from it almost never, so the bitmaps compress to about
 * the entropy of the flips, far below a list of positions.
 *
 * Small values are the exception: an inferred factorisation is off by a roughly constant absolute amount, which is
 * many ulps of a value near zero. Elements whose predicted exponent is below `small` (a parameter the encoder
 * chooses) therefore carry no flip bit; instead the `d` payload lists, for each of them in element order, the
 * difference in representable steps between committed and predicted value (zigzag, u16). Anything still
 * different afterwards is left to the patch.
 */
export const CELL_BUCKETS = 16;

/** BF16 bits → position on the number line in representable steps (±0 both 0). */
function stepsOf(bits: number): number {
  return bits & 0x8000 ? -(bits & 0x7fff) : bits;
}

/** The inverse of {@link stepsOf} (0 → +0); undefined outside the 16-bit range. */
function bitsOfSteps(steps: number): number | undefined {
  if (steps > 0x7fff || steps < -0x7fff) return undefined;
  return steps >= 0 ? steps : 0x8000 | -steps;
}

/** Per element of a BF16 prediction: its bucket (255: no neighbour) and the neighbour across the boundary. */
interface CellMap {
  predicted: Uint8Array;
  bucket: Uint8Array;
  neighbour: Uint16Array;
}

/** One pass over a prediction: each element's bucket (by distance to the rounding boundary) and neighbour. */
function cellMapOf(predicted: Uint8Array, values: Float32Array): CellMap {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const bucket = new Uint8Array(values.length);
  const neighbour = new Uint16Array(values.length);
  const scale = 2 * CELL_BUCKETS;
  for (let i = 0; i < values.length; i++) {
    const p = predicted[2 * i]! | (predicted[2 * i + 1]! << 8);
    const v = bits[i]!;
    const truncated = v >>> 16;
    const low = v & 0xffff;
    if (p === truncated) {
      neighbour[i] = (p + 1) & 0xffff; // rounded towards zero: the other candidate is one step away from zero
      bucket[i] = Math.min(CELL_BUCKETS - 1, (low * scale) >>> 16);
    } else if (p === ((truncated + 1) & 0xffff)) {
      neighbour[i] = (p - 1) & 0xffff;
      bucket[i] = Math.min(CELL_BUCKETS - 1, ((0x10000 - low) * scale) >>> 16);
    } else {
      neighbour[i] = p; // NaN or a rounding this scheme does not model: bucket 0, never flipped
      bucket[i] = 0;
    }
  }
  return { predicted, bucket, neighbour };
}

/** Whether element `i` is small: its predicted exponent is below `small`. */
function isSmall(predicted: Uint8Array, i: number, small: number): boolean {
  return ((((predicted[2 * i + 1]! << 8) | predicted[2 * i]!) >>> 7) & 0xff) < small;
}

/** Element count per bucket, each bucket's first byte in the concatenated bitmaps, and the small count. */
function cellLayout(map: CellMap, small: number): { offsets: Int32Array; total: number; smallCount: number } {
  const counts = new Int32Array(CELL_BUCKETS);
  let smallCount = 0;
  const { predicted, bucket } = map;
  for (let i = 0; i < bucket.length; i++) {
    if (isSmall(predicted, i, small)) smallCount++;
    else counts[bucket[i]!]!++;
  }
  const offsets = new Int32Array(CELL_BUCKETS);
  let total = 0;
  for (let b = 0; b < CELL_BUCKETS; b++) {
    offsets[b] = total;
    total += (counts[b]! + 7) >>> 3;
  }
  return { offsets, total, smallCount };
}

/**
 * Encodes the flips and small-value steps that bring a copy of the prediction (BF16) closer to `target`; returns
 * the payloads and the corrected copy.
 */
function encodeCells(
  map: CellMap,
  target: Uint8Array,
  small: number,
): { flips: Uint8Array; steps: Uint8Array; corrected: Uint8Array } {
  const { offsets, total, smallCount } = cellLayout(map, small);
  const { predicted, bucket, neighbour } = map;
  const flips = new Uint8Array(total);
  const steps = new Uint8Array(smallCount * 2);
  const corrected = new Uint8Array(predicted);
  const seen = new Int32Array(CELL_BUCKETS);
  let s = 0;
  for (let i = 0; i < bucket.length; i++) {
    const p = predicted[2 * i]! | (predicted[2 * i + 1]! << 8);
    const t = target[2 * i]! | (target[2 * i + 1]! << 8);
    if (t === p) {
      if (isSmall(predicted, i, small)) s++;
      else seen[bucket[i]!]!++;
      continue;
    }
    let now = p;
    if (isSmall(predicted, i, small)) {
      const d = stepsOf(t) - stepsOf(p);
      const z = d >= 0 ? 2 * d : -2 * d - 1;
      // d = 0 with t ≠ p is −0 against +0: left to the patch (a zero step means "unchanged" to the decoder).
      const fixed = z !== 0 && z <= 0xffff ? bitsOfSteps(stepsOf(p) + d) : undefined;
      if (fixed !== undefined) {
        steps[2 * s] = z & 0xff;
        steps[2 * s + 1] = z >>> 8;
        now = fixed;
      }
      s++;
    } else {
      const b = bucket[i]!;
      const k = seen[b]!++;
      const n = neighbour[i]!;
      if (t === n && n !== p) {
        flips[offsets[b]! + (k >>> 3)]! |= 1 << (k & 7);
        now = n;
      }
    }
    corrected[2 * i] = now & 0xff;
    corrected[2 * i + 1] = now >>> 8;
  }
  return { flips, steps, corrected };
}

/** Applies stored flips and steps to the prediction (BF16) in place; StoreError when they do not fit the tensor. */
function applyCells(map: CellMap, small: number, flips: Uint8Array, steps: Uint8Array | undefined, what: string): void {
  const { offsets, total, smallCount } = cellLayout(map, small);
  if (flips.length !== total) throw corrupt(what, `rounding-cell flips must hold ${total} bytes, not ${flips.length}`);
  const stepBytes = steps?.length ?? 0;
  if (stepBytes !== smallCount * 2) {
    throw corrupt(what, `small-value steps must hold ${smallCount * 2} bytes, not ${stepBytes}`);
  }
  const { predicted, bucket, neighbour } = map;
  const seen = new Int32Array(CELL_BUCKETS);
  let s = 0;
  for (let i = 0; i < bucket.length; i++) {
    // The smallness test reads the prediction before this element is changed (elements are independent).
    if (isSmall(predicted, i, small)) {
      const z = steps![2 * s]! | (steps![2 * s + 1]! << 8);
      s++;
      if (z === 0) continue;
      const d = z & 1 ? -((z + 1) >>> 1) : z >>> 1;
      const now = bitsOfSteps(stepsOf(predicted[2 * i]! | (predicted[2 * i + 1]! << 8)) + d);
      if (now !== undefined) {
        predicted[2 * i] = now & 0xff;
        predicted[2 * i + 1] = now >>> 8;
      }
      continue;
    }
    const b = bucket[i]!;
    const k = seen[b]!++;
    if ((flips[offsets[b]! + (k >>> 3)]! >>> (k & 7)) & 1) {
      const n = neighbour[i]!;
      predicted[2 * i] = n & 0xff;
      predicted[2 * i + 1] = n >>> 8;
    }
  }
}

/** Rounding-cell flips are tried when more than this fraction of a BF16 prediction's elements miss. */
const CELL_MIN_MISS_FRACTION = 0.001;
/**
 * Candidate exponent thresholds for small values (BF16 biased exponents: 118 is 2^-9 ≈ 0.002); the encoder keeps
 * the one whose payloads store smallest. 0 means none.
 */
export const CELL_SMALL_CANDIDATES: readonly number[] = [0, 116, 117, 118];

/**
 * An exact low-rank encoding: the factors plus a patch for the elements where the prediction differs from
 * `target` (none when the factors produced it, as `weft adapter apply` does).
 */
export function encodeLowRank(options: {
  parent: Uint8Array;
  target: Uint8Array;
  dtype: Dtype;
  update: LowRankUpdate;
  /**
   * Measures a candidate's stored size (the store's codec): with it, BF16 residuals try rounding-cell flips with
   * each threshold of {@link CELL_SMALL_CANDIDATES} and keep the smallest encoding.
   */
  sizeOf?: (candidate: EncodedUpdate) => number;
}): EncodedUpdate {
  const { update, dtype, target } = options;
  const { bytes: predicted, values } = predictLowRankValues({ parent: options.parent, dtype, update });
  // The factors' bytes are shared by every candidate (never modified), so a size measure can cache by them.
  const a = bytesOf(update.right);
  const b = bytesOf(update.left);
  const base = (): EncodedUpdate => ({
    kind: 'lowrank',
    params: {
      dtype,
      shape: `${update.rows}x${update.cols}`,
      rank: String(update.rank),
      scale: String(update.scale),
    },
    parts: [
      { key: 'a', bytes: a, width: 4 },
      { key: 'b', bytes: b, width: 4 },
    ],
  });
  const plain = base();
  const xor = xorOf(predicted, target);
  addPatch(plain, xor, dtypeSize(dtype));
  const misses = plain.params.patch === 'none' ? 0 : countChangedElements(xor, dtypeSize(dtype));
  const sizeOf = options.sizeOf;
  if (!sizeOf || dtype !== 'BF16' || misses <= CELL_MIN_MISS_FRACTION * values.length) return plain;
  let best = plain;
  let bestSize = sizeOf(plain);
  const map = cellMapOf(predicted, values);
  for (const small of CELL_SMALL_CANDIDATES) {
    const { flips, steps, corrected } = encodeCells(map, target, small);
    const candidate = base();
    candidate.params.cells = String(CELL_BUCKETS);
    if (small > 0) candidate.params.small = String(small);
    candidate.parts.push({ key: 'f', bytes: flips, width: 1 });
    if (small > 0) candidate.parts.push({ key: 'd', bytes: steps, width: 2 });
    xorInto(corrected, target);
    addPatch(candidate, corrected, 2);
    const size = sizeOf(candidate);
    if (size < bestSize) {
      best = candidate;
      bestSize = size;
    }
  }
  return best;
}

/** Row (axis 0) or column (axis 1) scaling of a rows×cols matrix: IA3's learned vectors. */
export interface ScaleUpdate {
  rows: number;
  cols: number;
  axis: 0 | 1;
  vector: Float32Array;
}

/** `round(parent · v)` with v along rows or columns, in float32 (one rounding), then to `dtype`. */
export function predictScaled(options: { parent: Uint8Array; dtype: Dtype; update: ScaleUpdate }): Uint8Array {
  const { dtype, update } = options;
  const { rows, cols, axis, vector } = update;
  const width = dtypeSize(dtype);
  if (options.parent.length !== rows * cols * width) throw new RangeError('scale prediction: parent size');
  const out = new Uint8Array(options.parent.length);
  const row = new Float32Array(cols);
  for (let o = 0; o < rows; o++) {
    decodeToF32(dtype, options.parent.subarray(o * cols * width, (o + 1) * cols * width), row);
    if (axis === 0) {
      const v = vector[o]!;
      for (let c = 0; c < cols; c++) row[c]! *= v;
    } else {
      for (let c = 0; c < cols; c++) row[c]! *= vector[c]!;
    }
    encodeFromF32(dtype, row, out.subarray(o * cols * width, (o + 1) * cols * width));
  }
  return out;
}

/** An exact scaling encoding: the vector plus a patch where `round(parent · v)` differs from `target`. */
export function encodeScaled(options: {
  parent: Uint8Array;
  target: Uint8Array;
  dtype: Dtype;
  update: ScaleUpdate;
}): EncodedUpdate {
  const { update, dtype } = options;
  const predicted = predictScaled({ parent: options.parent, dtype, update });
  xorInto(predicted, options.target);
  const encoded: EncodedUpdate = {
    kind: 'scale',
    params: { dtype, shape: `${update.rows}x${update.cols}`, axis: String(update.axis) },
    parts: [{ key: 'v', bytes: bytesOf(update.vector), width: 4 }],
  };
  addPatch(encoded, predicted, dtypeSize(dtype));
  return encoded;
}

function xorOf(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a);
  xorInto(out, b);
  return out;
}

function bytesOf(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
}

/** The payloads of a stored encoding, read back from the store. */
export type Payloads = Partial<Record<PayloadKey, Uint8Array>>;

function corrupt(what: string, message: string): StoreError {
  return new StoreError('STORE_CORRUPT', `${what}: ${message}`);
}

function intParam(params: Record<string, string>, key: string, what: string, max: number): number {
  const text = params[key];
  if (text === undefined || !/^(0|[1-9][0-9]*)$/.test(text))
    throw corrupt(what, `encoding parameter ${key} missing or not a whole number`);
  const n = Number(text);
  if (n > max) throw corrupt(what, `encoding parameter ${key}=${text} exceeds ${max}`);
  return n;
}

function shapeParam(params: Record<string, string>, what: string, sizeBytes: number, dtype: Dtype): [number, number] {
  const m = /^(0|[1-9][0-9]*)x(0|[1-9][0-9]*)$/.exec(params.shape ?? '');
  if (!m) throw corrupt(what, `bad shape parameter ${JSON.stringify(params.shape)}`);
  const rows = Number(m[1]);
  const cols = Number(m[2]);
  if (rows * cols * dtypeSize(dtype) !== sizeBytes)
    throw corrupt(what, `shape ${params.shape} does not hold ${sizeBytes} bytes`);
  return [rows, cols];
}

function dtypeParam(params: Record<string, string>, what: string): Dtype {
  const d = params.dtype;
  if (!isDtype(d) || !PREDICTABLE.has(d)) throw corrupt(what, `bad dtype parameter ${JSON.stringify(d)}`);
  return d;
}

function floatsOf(bytes: Uint8Array | undefined, count: number, what: string, key: string): Float32Array {
  if (!bytes || bytes.length !== count * 4) throw corrupt(what, `payload ${key} must hold ${count * 4} bytes`);
  const copy = new Uint8Array(bytes);
  return new Float32Array(copy.buffer, 0, count);
}

/** Applies a stored patch (from `params.patch` and the payloads) to `predicted` in place. */
function applyPatch(
  predicted: Uint8Array,
  width: number,
  params: Record<string, string>,
  payloads: Payloads,
  what: string,
): void {
  const numel = predicted.length / width;
  switch (params.patch) {
    case 'none':
      return;
    case 'xor': {
      const x = payloads.refs;
      if (!x || x.length !== predicted.length) throw corrupt(what, 'xor patch has the wrong size');
      xorInto(predicted, x);
      return;
    }
    case 'sparse': {
      const nnz = intParam(params, 'nnz', what, numel);
      const gaps = payloads.idx;
      const values = payloads.refs;
      if (!gaps || gaps.length !== nnz * 4) throw corrupt(what, `sparse positions must hold ${nnz * 4} bytes`);
      if (!values || values.length !== nnz * width) throw corrupt(what, `sparse values must hold ${nnz * width} bytes`);
      const view = new DataView(gaps.buffer, gaps.byteOffset, gaps.byteLength);
      let at = 0;
      for (let k = 0; k < nnz; k++) {
        const gap = view.getUint32(k * 4, true);
        if (k > 0 && gap === 0) throw corrupt(what, 'sparse positions repeat');
        at = k === 0 ? gap : at + gap;
        if (at >= numel) throw corrupt(what, `sparse position ${at} is outside ${numel} elements`);
        const o = at * width;
        for (let b = 0; b < width; b++) predicted[o + b]! ^= values[k * width + b]!;
      }
      return;
    }
    default:
      throw corrupt(what, `unknown patch ${JSON.stringify(params.patch)}`);
  }
}

/**
 * Rebuilds a tensor from its parent's bytes and its encoding's payloads. `parent` may be modified (it is the
 * caller's scratch copy). Throws StoreError STORE_CORRUPT naming `what` for payloads that do not fit.
 *
 * @example const bytes = decodeUpdate({ kind: 'delta', params, parent, payloads, sizeBytes, dtype, what: 'm: w' });
 */
export function decodeUpdate(options: {
  kind: string;
  params: Record<string, string>;
  parent: Uint8Array;
  payloads: Payloads;
  sizeBytes: number;
  /** The tensor's dtype (its element width matters for patches). */
  dtype: Dtype;
  /** Names the file and tensor in errors. */
  what: string;
}): Uint8Array {
  const { params, payloads, what, sizeBytes } = options;
  if (options.parent.length !== sizeBytes)
    throw corrupt(what, `parent holds ${options.parent.length} bytes, expected ${sizeBytes}`);
  const width = dtypeSize(options.dtype);
  switch (options.kind) {
    case 'delta': {
      applyPatch(options.parent, width, params, payloads, what);
      return options.parent;
    }
    case 'lowrank': {
      const dtype = dtypeParam(params, what);
      const [rows, cols] = shapeParam(params, what, sizeBytes, dtype);
      const rank = intParam(params, 'rank', what, Math.min(rows, cols));
      const scale = Number(params.scale);
      if (!Number.isFinite(scale)) throw corrupt(what, `bad scale ${JSON.stringify(params.scale)}`);
      const right = floatsOf(payloads.a, rank * cols, what, 'a');
      const left = floatsOf(payloads.b, rows * rank, what, 'b');
      const { bytes: predicted, values } = predictLowRankValues({
        parent: options.parent,
        dtype,
        update: { rows, cols, rank, left, right, scale },
      });
      if (params.cells !== undefined) {
        if (params.cells !== String(CELL_BUCKETS) || dtype !== 'BF16') {
          throw corrupt(what, `rounding-cell flips "cells=${params.cells}" are not known for ${dtype}`);
        }
        if (!payloads.f) throw corrupt(what, 'rounding-cell flips are named but not stored');
        const small = params.small === undefined ? 0 : intParam(params, 'small', what, 255);
        applyCells(cellMapOf(predicted, values), small, payloads.f, payloads.d, what);
      }
      applyPatch(predicted, dtypeSize(dtype), params, payloads, what);
      return predicted;
    }
    case 'scale': {
      const dtype = dtypeParam(params, what);
      const [rows, cols] = shapeParam(params, what, sizeBytes, dtype);
      const axis = params.axis === '0' ? 0 : params.axis === '1' ? 1 : undefined;
      if (axis === undefined) throw corrupt(what, `bad axis ${JSON.stringify(params.axis)}`);
      const vector = floatsOf(payloads.v, axis === 0 ? rows : cols, what, 'v');
      const predicted = predictScaled({ parent: options.parent, dtype, update: { rows, cols, axis, vector } });
      applyPatch(predicted, dtypeSize(dtype), params, payloads, what);
      return predicted;
    }
    default:
      throw corrupt(what, `encoding "${options.kind}" is not known to this Weft; upgrade Weft`);
  }
}

/** One-line description of an encoding for `weft log` / `weft diff`: "low-rank r=8", "2.1% of entries changed". */
export function describeEncoding(options: {
  kind: string;
  params: Record<string, string>;
  sizeBytes: number;
  dtype: Dtype;
}): string {
  const { kind, params } = options;
  const numel = options.sizeBytes / dtypeSize(options.dtype);
  const patch =
    params.patch === 'sparse' && numel > 0
      ? `${((100 * Number(params.nnz)) / numel).toFixed(numel >= 1000 ? 2 : 1)}% of entries changed`
      : params.patch === 'xor'
        ? 'every entry may differ'
        : '';
  switch (kind) {
    case 'dense':
      return 'dense';
    case 'delta':
      return params.patch === 'xor' ? 'delta (xor), most entries changed' : `delta, ${patch}`;
    case 'lowrank':
      return `low-rank r=${params.rank}${params.cells === undefined ? '' : ' + rounding flips'}${params.patch === 'none' ? '' : ` + residual (${patch})`}`;
    case 'scale':
      return `scaled ${params.axis === '0' ? 'rows' : 'columns'}${params.patch === 'none' ? '' : ` + residual (${patch})`}`;
    default:
      return kind;
  }
}
