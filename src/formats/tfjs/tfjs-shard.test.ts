// Unit tests of the TF.js manifest layout and shard checkpoints: pieces of split weights, quantized and odd-sized
// weights, size-based detection, and the manifest's error codes.

import { describe, expect, it } from 'vitest';
import { FormatError } from '../../errors.js';
import { GROUPS, MODEL_JSON, SHARD_SIZES, shardPlan, UNALIGNED } from './test-support/hand-built.js';
import { layoutTfjsShard, shardSizeFits } from './tfjs-shard.js';
import { MAX_TFJS_DIMS, parseWeightsManifest } from './weights-manifest.js';

const manifestCode = (value: unknown): string => {
  try {
    parseWeightsManifest(typeof value === 'string' ? value : JSON.stringify(value), { fileName: 'model.json' });
  } catch (e) {
    if (e instanceof FormatError) {
      expect(e.message.startsWith('model.json: ')).toBe(true);
      return e.code;
    }
    throw e;
  }
  return 'ok';
};

describe('parseWeightsManifest', () => {
  it('lays out each group as one buffer, with stored dtypes', () => {
    expect(GROUPS[0]!.totalBytes).toBe(1451);
    expect(GROUPS[0]!.weights.map((w) => [w.name, w.dtype, w.offsetBytes, w.sizeBytes])).toEqual([
      ['a', 'F32', 0, 1200],
      ['b', 'BOOL', 1200, 3],
      ['q', 'U8', 1203, 8],
      ['c', 'I32', 1211, 240],
    ]);
    expect(GROUPS[0]!.weights[2]!.storedType).toBe('uint8 quantized float32 (min -1, scale 0.01)');
    expect(JSON.parse(MODEL_JSON).weightsManifest).toHaveLength(2);
  });

  it('stops a group at a string weight (variable size): the rest stays frame', () => {
    const groups = parseWeightsManifest(
      JSON.stringify({
        weightsManifest: [
          {
            paths: ['a.bin'],
            weights: [
              { name: 'x', shape: [1], dtype: 'float32' },
              { name: 's', shape: [2], dtype: 'string' },
              { name: 'y', shape: [1], dtype: 'float32' },
            ],
          },
        ],
      }),
      { fileName: 'model.json' },
    );
    expect(groups[0]!.weights.map((w) => w.name)).toEqual(['x']);
  });

  it('error codes: not JSON, wrong structure, unknown dtype, bad shape, limits', () => {
    expect(manifestCode('{')).toBe('FORMAT_BAD_HEADER');
    expect(manifestCode({ weightsManifest: {} })).toBe('FORMAT_BAD_HEADER');
    expect(manifestCode({ weightsManifest: [{ paths: [''], weights: [] }] })).toBe('FORMAT_BAD_HEADER');
    const one = (w: unknown) => ({ weightsManifest: [{ paths: ['a.bin'], weights: [w] }] });
    expect(manifestCode(one({ name: 'x', shape: [1] }))).toBe('FORMAT_BAD_HEADER');
    expect(manifestCode(one({ name: 'x', shape: [1], dtype: 'float128' }))).toBe('FORMAT_BAD_DTYPE');
    expect(manifestCode(one({ name: 'x', shape: [1], dtype: 'float32', quantization: { dtype: 'uint3' } }))).toBe(
      'FORMAT_BAD_DTYPE',
    );
    expect(manifestCode(one({ name: 'x', shape: [-1], dtype: 'float32' }))).toBe('FORMAT_BAD_SHAPE');
    expect(manifestCode(one({ name: 'x', shape: [2 ** 30, 2 ** 30], dtype: 'float32' }))).toBe('FORMAT_BAD_SHAPE');
    expect(manifestCode(one({ name: 'x', shape: new Array(MAX_TFJS_DIMS + 1).fill(1), dtype: 'float32' }))).toBe(
      'FORMAT_LIMIT',
    );
    expect(manifestCode(one({ name: '', shape: [1], dtype: 'float32' }))).toBe('FORMAT_LIMIT');
    expect(manifestCode({ weightsManifest: new Array(10_001).fill({ paths: ['a'], weights: [] }) })).toBe(
      'FORMAT_LIMIT',
    );
  });
});

describe('layoutTfjsShard', () => {
  it('a weight split on an element boundary keeps its dtype in both parts', () => {
    const first = layoutTfjsShard(shardPlan(0), SHARD_SIZES[0]!, 'group1-shard1of2.bin');
    expect(first.extents.map((e) => [e.name, e.dtype, e.shape, e.offsetBytes, e.sizeBytes])).toEqual([
      ['a#part1', 'F32', [256], 0, 1024],
    ]);
    expect(first.tensors[0]).toEqual({ name: 'a#part1', dtype: 'F32', shape: [256], extent: 0, storedShape: [300] });
    const second = layoutTfjsShard(shardPlan(1), SHARD_SIZES[1]!, 'group1-shard2of2.bin');
    expect(second.extents.map((e) => [e.name, e.dtype, e.shape, e.offsetBytes, e.sizeBytes])).toEqual([
      ['a#part2', 'F32', [44], 0, 176],
      ['b', 'BOOL', [3], 176, 3],
      ['q', 'U8', [2, 4], 179, 8],
      ['c', 'I32', [60], 187, 240],
    ]);
  });

  it('the first shard holds a, b, q whole and the first 29 bytes of c as part 1', () => {
    const cp = layoutTfjsShard(shardPlan(0, UNALIGNED, 200), 200, 'group1-shard1of2.bin');
    expect(cp.format).toBe('tfjs-shard');
    expect(cp.extents.map((e) => [e.name, e.dtype, e.shape, e.offsetBytes, e.sizeBytes])).toEqual([
      ['a', 'F32', [40], 0, 160],
      ['b', 'BOOL', [3], 160, 3],
      ['q', 'U8', [2, 4], 163, 8],
      ['c#part1', 'U8', [29], 171, 29],
    ]);
    expect(cp.tensors[2]).toMatchObject({ storedType: 'uint8 quantized float32 (min -1, scale 0.01)' });
    expect(cp.tensors[3]).toMatchObject({ storedType: 'bytes of I32', storedShape: [60] });
  });

  it('the second shard holds the rest of c as part 2', () => {
    const cp = layoutTfjsShard(shardPlan(1, UNALIGNED, 200), 211, 'group1-shard2of2.bin');
    expect(cp.extents.map((e) => [e.name, e.dtype, e.offsetBytes, e.sizeBytes])).toEqual([['c#part2', 'U8', 0, 211]]);
    expect(cp.metadata['tfjs.shard']).toBe('group 1, shard 2 of 2, buffer bytes 200–411');
  });

  it('a shard longer than the weights keeps the extra bytes as frame; one starting past them is refused', () => {
    const cp = layoutTfjsShard(shardPlan(1, UNALIGNED, 200), 300, 'group1-shard2of2.bin');
    expect(cp.extents.at(-1)!.sizeBytes).toBe(211);
    const plan = { ...shardPlan(1, UNALIGNED), shardStarts: [0, 500] };
    expect(() => layoutTfjsShard(plan, 10, 'x.bin')).toThrow(/past the 411 bytes of weights/);
  });

  it('detects by size: the last shard exactly, earlier ones whole KiB within the weights', () => {
    expect(shardSizeFits(shardPlan(1), 427)).toBe(true);
    expect(shardSizeFits(shardPlan(1), 428)).toBe(false);
    expect(shardSizeFits(shardPlan(0), 1024)).toBe(true);
    expect(shardSizeFits(shardPlan(0), 1000)).toBe(false);
    expect(shardSizeFits(shardPlan(0), 2048)).toBe(false);
    expect(shardSizeFits(shardPlan(0), 0)).toBe(false);
  });
});
