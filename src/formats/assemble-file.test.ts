// Tests of the generic frame + extents split and rebuild, including empty extents.

import { describe, expect, it } from 'vitest';
import { assembleFile, listFileParts, splitFile } from './assemble-file.js';
import type { Checkpoint, TensorExtent } from './format-module.js';

function extent(name: string, offsetBytes: number, sizeBytes: number): TensorExtent {
  return { name, dtype: 'U8', shape: [sizeBytes], offsetBytes, sizeBytes };
}

function checkpoint(extents: TensorExtent[], sizeBytes: number): Checkpoint {
  return {
    format: 'test',
    metadata: {},
    extents,
    tensors: extents.map((e, i) => ({ name: e.name, dtype: e.dtype, shape: e.shape, extent: i })),
    sizeBytes,
  };
}

describe('listFileParts', () => {
  it('interleaves frame ranges and extents in file order, empty extents included', () => {
    // frame [0,2) a [2,4) frame [4,5) e (empty at 5) frame [5,6) b [6,8) f (empty at 8)
    const c = checkpoint([extent('a', 2, 2), extent('e', 5, 0), extent('b', 6, 2), extent('f', 8, 0)], 8);
    expect(
      listFileParts(c).map((p) =>
        p.kind === 'frame' ? `frame${p.frame}@${p.offsetBytes}` : `x${p.extent}@${p.offsetBytes}`,
      ),
    ).toEqual(['frame0@0', 'x0@2', 'frame1@4', 'x1@5', 'frame2@5', 'x2@6', 'x3@8']);
  });
});

describe('splitFile and assembleFile', () => {
  const bytes = Uint8Array.from({ length: 10 }, (_, i) => i);
  const c = checkpoint([extent('a', 0, 3), extent('e', 3, 0), extent('b', 5, 4)], 10);

  it('rebuild the same bytes, and rebuild other tensor bytes into the same frame', () => {
    const split = splitFile(c, bytes);
    expect(split.frames.map((f) => [...f])).toEqual([[3, 4], [9]]);
    expect(split.extents.map((e) => [...e])).toEqual([[0, 1, 2], [], [5, 6, 7, 8]]);
    expect(assembleFile(c, split)).toEqual(bytes);
    const swapped = assembleFile(c, {
      frames: split.frames,
      extents: [Uint8Array.of(7, 7, 7), new Uint8Array(0), Uint8Array.of(1, 1, 1, 1)],
    });
    expect([...swapped]).toEqual([7, 7, 7, 3, 4, 1, 1, 1, 1, 9]);
  });

  it('refuse pieces of the wrong size (a caller bug, so RangeError)', () => {
    expect(() => splitFile(c, bytes.subarray(1))).toThrow(RangeError);
    const split = splitFile(c, bytes);
    expect(() =>
      assembleFile(c, { frames: split.frames, extents: [Uint8Array.of(1), ...split.extents.slice(1)] }),
    ).toThrow(/extent 0 needs 3 bytes, got 1/);
    expect(() => assembleFile(c, { frames: [], extents: split.extents })).toThrow(RangeError);
  });
});
