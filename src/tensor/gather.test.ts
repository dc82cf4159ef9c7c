// Tests for gather.ts: strided views against a naive per-element reference, bounds errors, byte swapping.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../errors.js';
import { byteswap, gatherRowMajor } from './gather.js';

/** Element by element, the obvious way: recursion over dimensions. */
function naiveGather(
  bytes: Uint8Array,
  es: number,
  shape: number[],
  strides: number[],
  offset: number,
): Uint8Array | 'out of bounds' {
  const out: number[] = [];
  let bad = false;
  const walk = (dim: number, at: number) => {
    if (dim === shape.length) {
      if (at < 0 || (at + 1) * es > bytes.length) bad = true;
      else for (let k = 0; k < es; k++) out.push(bytes[at * es + k]!);
      return;
    }
    for (let i = 0; i < shape[dim]!; i++) walk(dim + 1, at + i * strides[dim]!);
  };
  walk(0, offset);
  return bad ? 'out of bounds' : Uint8Array.from(out);
}

const iota = (n: number) => Uint8Array.from({ length: n }, (_, i) => i);

function thrown(f: () => unknown): FormatError {
  try {
    f();
  } catch (e) {
    if (e instanceof FormatError) return e;
    throw e;
  }
  throw new Error('did not throw');
}

describe('gatherRowMajor', () => {
  it('reads a column-major (Fortran) matrix in row-major order', () => {
    expect([...gatherRowMajor(Uint8Array.from([1, 2, 3, 4, 5, 6]), 1, [2, 3], [1, 2], 0)]).toEqual([1, 3, 5, 2, 4, 6]);
  });

  it('reads a transposed PyTorch view with an offset, two-byte elements', () => {
    // Storage of 16 u16 elements 0..15; the view [2,3] with strides [1,4] from element 2 is rows 2 6 10 / 3 7 11.
    const storage = new Uint8Array(new Uint16Array(Array.from({ length: 16 }, (_, i) => i)).buffer);
    const got = gatherRowMajor(storage, 2, [2, 3], [1, 4], 2);
    expect([...new Uint16Array(got.buffer)]).toEqual([2, 6, 10, 3, 7, 11]);
  });

  it('handles zero strides (broadcast), negative strides, size-1 dimensions and scalars', () => {
    expect([...gatherRowMajor(iota(4), 1, [3], [0], 2)]).toEqual([2, 2, 2]);
    expect([...gatherRowMajor(iota(4), 1, [4], [-1], 3)]).toEqual([3, 2, 1, 0]);
    expect([...gatherRowMajor(iota(8), 1, [2, 1, 2], [1, 5, 4], 0)]).toEqual([0, 4, 1, 5]);
    expect([...gatherRowMajor(iota(8), 2, [], [], 3)]).toEqual([6, 7]);
  });

  it('copies contiguous views rather than aliasing the input', () => {
    const bytes = iota(8);
    const got = gatherRowMajor(bytes, 2, [2, 2], [2, 1], 0);
    expect([...got]).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    got[0] = 99;
    expect(bytes[0]).toBe(0);
  });

  it('returns nothing for an empty view, whatever the offset', () => {
    expect(gatherRowMajor(iota(2), 4, [0, 5], [5, 1], 1000).length).toBe(0);
  });

  it('matches the naive reference on random views (long runs, short runs, any element size)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 2, 3, 4, 8),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: -7, max: 30 })), { maxLength: 4 }),
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 0, max: 400 }),
        (es, dims, offset, storageElements) => {
          const shape = dims.map(([n]) => n);
          const strides = dims.map(([, s]) => s);
          const bytes = Uint8Array.from({ length: storageElements * es }, (_, i) => (i * 7 + 3) & 0xff);
          const expected = naiveGather(bytes, es, shape, strides, offset);
          if (expected === 'out of bounds') {
            return thrown(() => gatherRowMajor(bytes, es, shape, strides, offset)).code === 'FORMAT_BAD_OFFSETS';
          }
          const got = gatherRowMajor(bytes, es, shape, strides, offset);
          return got.length === expected.length && got.every((b, i) => b === expected[i]);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('copies runs longer than the short-run threshold correctly', () => {
    // Rows of 40 four-byte elements (160 bytes) taken from a wider storage of 50 columns.
    const wide = new Uint8Array(4 * 100 * 50).map((_, i) => i % 251);
    const got = gatherRowMajor(wide, 4, [3, 40], [50, 1], 7);
    expect(got).toEqual(naiveGather(wide, 4, [3, 40], [50, 1], 7));
  });

  it('rejects views that reach past the end or before the start, naming them', () => {
    const where = { file: 'model.pt', tensor: 'w' };
    const end = thrown(() => gatherRowMajor(iota(12), 2, [2, 3], [1, 2], 1, where));
    expect(end.code).toBe('FORMAT_BAD_OFFSETS');
    expect(end.message).toBe(
      'model.pt: tensor "w" with shape [2,3], strides [1,2] and offset 1 ends at byte 14 but its storage has 12 bytes',
    );
    expect(end.tensor).toBe('w');
    const start = thrown(() => gatherRowMajor(iota(12), 1, [3], [-2], 3));
    expect(start.message).toMatch(/reaches element -1, before the start/);
  });

  it('rejects huge strides without overflowing', () => {
    expect(thrown(() => gatherRowMajor(iota(8), 1, [3, 2], [2 ** 52, 1], 0)).code).toBe('FORMAT_BAD_OFFSETS');
    expect(thrown(() => gatherRowMajor(iota(8), 1, [3], [-(2 ** 52)], 2 ** 53 - 1)).code).toBe('FORMAT_BAD_OFFSETS');
  });

  it('rejects mismatched or non-integer strides, bad offsets and bad shapes', () => {
    expect(thrown(() => gatherRowMajor(iota(8), 1, [2, 2], [2], 0)).message).toMatch(/has 1 strides for 2 dimensions/);
    expect(thrown(() => gatherRowMajor(iota(8), 1, [2], [1.5], 0)).code).toBe('FORMAT_BAD_OFFSETS');
    expect(thrown(() => gatherRowMajor(iota(8), 1, [2], [1], -1)).code).toBe('FORMAT_BAD_OFFSETS');
    expect(thrown(() => gatherRowMajor(iota(8), 1, [2], [1], 0.5)).code).toBe('FORMAT_BAD_OFFSETS');
    expect(thrown(() => gatherRowMajor(iota(8), 1, [-2], [1], 0)).code).toBe('FORMAT_BAD_SHAPE');
    expect(() => gatherRowMajor(iota(8), 0, [2], [1], 0)).toThrow(RangeError);
  });
});

describe('byteswap', () => {
  it('reverses each element', () => {
    expect([...byteswap(iota(4), 2)]).toEqual([1, 0, 3, 2]);
    expect([...byteswap(iota(8), 4)]).toEqual([3, 2, 1, 0, 7, 6, 5, 4]);
    expect([...byteswap(iota(8), 8)]).toEqual([7, 6, 5, 4, 3, 2, 1, 0]);
    expect([...byteswap(iota(3), 1)]).toEqual([0, 1, 2]);
  });
  it('turns big-endian numbers into little-endian ones', () => {
    const be = new DataView(new ArrayBuffer(8));
    be.setFloat32(0, 1.5, false);
    be.setInt32(4, -2, false);
    const le = new DataView(byteswap(new Uint8Array(be.buffer), 4).buffer);
    expect(le.getFloat32(0, true)).toBe(1.5);
    expect(le.getInt32(4, true)).toBe(-2);
  });
  it('is its own inverse and leaves the input alone', () => {
    fc.assert(
      fc.property(fc.constantFrom(1, 2, 4, 8), fc.uint8Array({ maxLength: 64 }), (es, raw) => {
        const bytes = raw.subarray(0, raw.length - (raw.length % es));
        const copy = bytes.slice();
        const twice = byteswap(byteswap(bytes, es), es);
        return twice.every((b, i) => b === bytes[i]) && bytes.every((b, i) => b === copy[i]);
      }),
    );
  });
  it('rejects a partial element', () => {
    expect(() => byteswap(iota(3), 2)).toThrow(RangeError);
  });
});
