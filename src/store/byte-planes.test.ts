// Tests for byte-planes.ts: against a reference transpose, every width, length, alignment and cut into pieces, and
// bad arguments.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type GroupWidth,
  joinBytePlanes,
  joinPlanes,
  joinPlanesJs,
  splitBytePlanes,
  splitPieces,
  splitPiecesJs,
} from './byte-planes.js';

const widths: GroupWidth[] = [1, 2, 4, 8];

/** Reference transpose, written the obvious way. */
function referenceSplit(src: Uint8Array, width: number): Uint8Array {
  const n = src.length / width;
  const out = new Uint8Array(src.length);
  for (let i = 0; i < n; i++) for (let j = 0; j < width; j++) out[j * n + i] = src[i * width + j]!;
  return out;
}

describe('byte planes', () => {
  it('groups byte j of every element into plane j', () => {
    expect([...splitBytePlanes(Uint8Array.of(1, 2, 3, 4, 5, 6), 2)]).toEqual([1, 3, 5, 2, 4, 6]);
    expect([...splitBytePlanes(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), 4)]).toEqual([1, 5, 2, 6, 3, 7, 4, 8]);
    expect([...joinBytePlanes(Uint8Array.of(1, 5, 2, 6, 3, 7, 4, 8), 4)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('matches the reference and round-trips for every width, length and alignment', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...widths),
        fc.nat({ max: 300 }),
        fc.nat({ max: 7 }),
        fc.nat({ max: 7 }),
        (width, elements, srcOffset, outOffset) => {
          const length = elements * width;
          const backing = new Uint8Array(length + srcOffset);
          for (let i = 0; i < backing.length; i++) backing[i] = (i * 131 + 7) & 0xff;
          const src = backing.subarray(srcOffset);
          const out = new Uint8Array(length + outOffset).subarray(outOffset);
          const planes = splitBytePlanes(src, width, out);
          expect(planes).toBe(out);
          expect([...planes]).toEqual([...referenceSplit(src, width)]);
          expect([...joinBytePlanes(planes, width)]).toEqual([...src]);
        },
      ),
      { numRuns: 400 },
    );
  });

  // The public functions use the native kernels (when built) from NATIVE_MIN_BYTES on; the *Js ones never do.
  it.each([
    ['the public functions', splitPieces, joinPlanes],
    ['the JavaScript kernels', splitPiecesJs, joinPlanesJs],
  ])(
    '%s split pieces (elements straddling them) into planes anywhere in memory, and join them back',
    (_, split, join) => {
      fc.assert(
        fc.property(
          fc.constantFrom(...widths),
          fc.nat({ max: 5000 }),
          fc.array(fc.nat({ max: 40_000 }), { maxLength: 5 }),
          fc.array(fc.nat({ max: 7 }), { minLength: 8, maxLength: 8 }),
          (width, elements, cuts, offsets) => {
            const length = elements * width;
            const src = new Uint8Array(length);
            for (let i = 0; i < length; i++) src[i] = (i * 131 + (i >>> 9) * 7) & 0xff;
            const at = [0, ...cuts.map((c) => Math.min(c, length)).sort((a, b) => a - b), length];
            const pieces = at.slice(1).map((end, k) => src.slice(at[k], end));
            const planes = Array.from({ length: width }, (_, j) =>
              new Uint8Array(elements + offsets[j]!).subarray(offsets[j]!),
            );
            split(pieces, width, planes);
            const reference = referenceSplit(src, width);
            planes.forEach((plane, j) => {
              expect(Buffer.from(plane).equals(Buffer.from(reference.subarray(j * elements, (j + 1) * elements)))).toBe(
                true,
              );
            });
            const out = new Uint8Array(length + offsets[7]!).subarray(offsets[7]!);
            join(planes, width, out);
            expect(Buffer.from(out).equals(Buffer.from(src))).toBe(true);
          },
        ),
        { numRuns: 200 },
      );
    },
  );

  it('rejects a length that is not a multiple of the width, and an output that aliases the input', () => {
    expect(() => splitBytePlanes(new Uint8Array(3), 2)).toThrow(RangeError);
    const bytes = new Uint8Array(8);
    expect(() => splitBytePlanes(bytes, 4, bytes)).toThrow(RangeError);
    expect(() => splitBytePlanes(bytes, 4, new Uint8Array(4))).toThrow(RangeError);
    expect(() => splitBytePlanes(bytes, 3 as GroupWidth)).toThrow(RangeError);
    expect(() => splitPieces([bytes], 2, [new Uint8Array(4), new Uint8Array(3)])).toThrow(RangeError);
    expect(() => splitPieces([bytes, bytes], 2, [new Uint8Array(4), new Uint8Array(4)])).toThrow(RangeError);
    expect(() => joinPlanes([new Uint8Array(4)], 2, bytes)).toThrow(RangeError);
    const big = new Uint8Array(1 << 16);
    expect(() => joinPlanes([big.subarray(0, 1024), big.subarray(1024, 2048)], 2, new Uint8Array(2047))).toThrow(
      RangeError,
    );
    expect(() => splitPieces([big, new Uint8Array(1)], 2, [new Uint8Array(1 << 15), new Uint8Array(1 << 15)])).toThrow(
      RangeError,
    );
  });
});
