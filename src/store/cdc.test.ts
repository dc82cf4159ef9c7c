// Tests for cdc.ts: pinned boundaries, push-size independence, size bounds, and dedup after an insertion.

import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CDC_MAX_BYTES, CDC_MIN_BYTES, Chunker, splitChunks } from './cdc.js';

/** xorshift32 bytes: a fixed pseudo-random input, independent of the code under test. */
function prng(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let s = seed >>> 0;
  for (let i = 0; i < length; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s >>> 24;
  }
  return out;
}

function ends(chunks: Uint8Array[]): number[] {
  let offset = 0;
  return chunks.map((chunk) => (offset += chunk.length));
}

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('content-defined chunking', () => {
  it('cuts at exactly these offsets forever (the boundaries are part of the storage format)', () => {
    expect(ends(splitChunks(prng(2 << 20, 0x2545f491)))).toEqual([
      26671, 92380, 162138, 231874, 313468, 368825, 447654, 462208, 533583, 596609, 648456, 728942, 780269, 824765,
      868972, 971874, 1061656, 1145898, 1211439, 1286102, 1352967, 1395222, 1474351, 1490414, 1565945, 1594272, 1615680,
      1655640, 1736171, 1863212, 1885434, 1968259, 2007205, 2077413, 2097152,
    ]);
  });

  it('gives the same chunks whatever sizes the stream is pushed in', () => {
    const input = prng(600_000, 77);
    const expected = splitChunks(input).map(sha);
    fc.assert(
      fc.property(fc.array(fc.nat({ max: input.length }), { maxLength: 40 }), (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), input.length];
        const chunker = new Chunker();
        const chunks: Uint8Array[] = [];
        for (let i = 1; i < points.length; i++) chunks.push(...chunker.push(input.subarray(points[i - 1], points[i])));
        chunks.push(...chunker.finish());
        expect(chunks.map(sha)).toEqual(expected);
      }),
      { numRuns: 60 },
    );
  });

  it('keeps every chunk within the size bounds and loses no byte', () => {
    const input = prng(3 << 20, 5);
    // A long run of one byte has no content boundaries: the maximum size must cut it.
    input.fill(0, 1 << 20, (1 << 20) + 500_000);
    const chunks = splitChunks(input);
    chunks.slice(0, -1).forEach((chunk) => {
      expect(chunk.length).toBeGreaterThanOrEqual(CDC_MIN_BYTES);
      expect(chunk.length).toBeLessThanOrEqual(CDC_MAX_BYTES);
    });
    expect(chunks.filter((chunk) => chunk.length === CDC_MAX_BYTES).length).toBeGreaterThanOrEqual(3);
    expect(Buffer.concat(chunks).equals(Buffer.from(input))).toBe(true);
  });

  it('handles empty and short streams', () => {
    expect(splitChunks(new Uint8Array(0))).toEqual([]);
    expect(new Chunker().finish()).toEqual([]);
    const short = prng(100, 1);
    expect(splitChunks(short).map((c) => [...c])).toEqual([[...short]]);
  });

  it('keeps chunks valid after the caller reuses its buffer', () => {
    const input = prng(300_000, 9);
    const expected = splitChunks(input).map(sha);
    const chunker = new Chunker();
    const buffer = new Uint8Array(4096);
    const chunks: Uint8Array[] = [];
    for (let offset = 0; offset < input.length; offset += buffer.length) {
      const piece = input.subarray(offset, offset + buffer.length);
      buffer.set(piece);
      chunks.push(...chunker.push(buffer.subarray(0, piece.length)).map((chunk) => chunk.slice()));
    }
    chunks.push(...chunker.finish());
    expect(chunks.map(sha)).toEqual(expected);
  });

  it('shares at least 95% of bytes after a 100-byte insertion into the middle of 4 MiB', () => {
    const shares = [1, 2, 3, 4].map((seed) => {
      const original = prng(4 << 20, seed);
      const middle = 2 << 20;
      const edited = Buffer.concat([original.subarray(0, middle), prng(100, 999), original.subarray(middle)]);
      const known = new Set(splitChunks(original).map(sha));
      let shared = 0;
      for (const chunk of splitChunks(edited)) if (known.has(sha(chunk))) shared += chunk.length;
      return shared / edited.length;
    });
    for (const share of shares) expect(share).toBeGreaterThanOrEqual(0.95);
    expect(shares.reduce((a, b) => a + b) / shares.length).toBeGreaterThan(0.97);
  });
});
