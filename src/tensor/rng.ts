// Counter-based random numbers (Philox4x32-10, Salmon et al., SC'11 / Random123): value `index` of stream
// (seed, stream) is a pure function, so any element can be drawn in any order or chunking. Pure, no state.

import { UsageError } from '../errors.js';

// Random123 philox.h: multipliers and Weyl key increments.
const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

const TWO_32 = 4294967296;
const TWO_64 = 1n << 64n;

/** High 32 bits of the 64-bit product of two u32s, exact in float64 arithmetic via 16-bit halves. */
function mulhi(a: number, b: number): number {
  const aH = a >>> 16;
  const aL = a & 0xffff;
  const bH = b >>> 16;
  const bL = b & 0xffff;
  const lh = aL * bH;
  const hl = aH * bL;
  const carry = ((aL * bL) >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (aH * bH + (lh >>> 16) + (hl >>> 16) + (carry >>> 16)) >>> 0;
}

/** Philox4x32-10 of (c0..c3, k0, k1) into `out[0..3]`. */
function philoxInto(
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
  out: Uint32Array | number[],
): void {
  for (let round = 0; round < 10; round++) {
    if (round > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const hi0 = mulhi(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

/**
 * The Philox4x32-10 block function: four u32 words from a 4-word counter and a 2-word key.
 *
 * @example philox4x32([0, 0, 0, 0], [0, 0]) // [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
 */
export function philox4x32(
  counter: readonly [number, number, number, number],
  key: readonly [number, number],
): [number, number, number, number] {
  const out = [0, 0, 0, 0];
  philoxInto(counter[0] >>> 0, counter[1] >>> 0, counter[2] >>> 0, counter[3] >>> 0, key[0] >>> 0, key[1] >>> 0, out);
  return out as [number, number, number, number];
}

/** A seed is a u64: a non-negative safe integer or a bigint below 2^64. */
export type Seed = number | bigint;

/** `[low, high]` u32 words of a u64 argument, or a UsageError naming it. */
function words(value: Seed, what: string): [number, number] {
  if (typeof value === 'bigint') {
    if (value < 0n || value >= TWO_64) throw new UsageError('USAGE', `${what} ${value} is outside 0 … 2^64 - 1`);
    return [Number(value & 0xffffffffn), Number(value >> 32n)];
  }
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new UsageError('USAGE', `${what} ${value} must be a non-negative integer below 2^53 (or a bigint)`);
  }
  return [value % TWO_32, Math.floor(value / TWO_32)];
}

function checkIndex(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new UsageError('USAGE', `${what} ${value} must be a non-negative integer below 2^53`);
  }
}

const scratch = new Uint32Array(4);

/**
 * Uniform in [0, 1) with 24 random bits (exact in float32): value `index` of stream `stream` under `seed`.
 * Index i uses word i % 4 of the Philox block with counter [⌊i/4⌋ (u64), stream (u64)] and key = seed.
 *
 * @example uniformAt(42, 0, 7) === uniformAt(42, 0, 7) // true, whatever was drawn in between
 */
export function uniformAt(seed: Seed, stream: number, index: number): number {
  const [k0, k1] = words(seed, 'seed');
  const [s0, s1] = words(stream, 'stream');
  checkIndex(index, 'index');
  const block = Math.floor(index / 4);
  philoxInto(block % TWO_32, Math.floor(block / TWO_32), s0, s1, k0, k1, scratch);
  return (scratch[index % 4]! >>> 8) * 2 ** -24;
}

/**
 * Uniform in [0, 1) with 53 random bits (every float64 multiple of 2^-53): value `index` of stream `stream`.
 * Index i uses words 2(i % 2) and 2(i % 2) + 1 of the block with counter [⌊i/2⌋, stream]; a different
 * sequence from `uniformAt`'s, so do not mix the two on one stream.
 *
 * @example uniform53At(42n, 3, 0) // some x with 0 ≤ x < 1
 */
export function uniform53At(seed: Seed, stream: number, index: number): number {
  const [k0, k1] = words(seed, 'seed');
  const [s0, s1] = words(stream, 'stream');
  checkIndex(index, 'index');
  const block = Math.floor(index / 2);
  philoxInto(block % TWO_32, Math.floor(block / TWO_32), s0, s1, k0, k1, scratch);
  const lane = 2 * (index % 2);
  return ((scratch[lane]! >>> 5) * 67108864 + (scratch[lane + 1]! >>> 6)) * 2 ** -53;
}

/**
 * Fills `out[j]` with `uniformAt(seed, stream, startIndex + j)`, a block of four at a time.
 *
 * @example fillUniform(new Float32Array(1000), 42, 0, 0)
 */
export function fillUniform(out: Float32Array, seed: Seed, stream: number, startIndex: number): Float32Array {
  const [k0, k1] = words(seed, 'seed');
  const [s0, s1] = words(stream, 'stream');
  checkIndex(startIndex, 'start index');
  checkIndex(startIndex + out.length, 'end index');
  const r = new Uint32Array(4);
  const scale = 2 ** -24;
  let block = Math.floor(startIndex / 4);
  let lane = startIndex % 4;
  let j = 0;
  while (j < out.length) {
    philoxInto(block % TWO_32, Math.floor(block / TWO_32), s0, s1, k0, k1, r);
    for (; lane < 4 && j < out.length; lane++, j++) out[j] = (r[lane]! >>> 8) * scale;
    lane = 0;
    block++;
  }
  return out;
}
