// TF.js model.json texts and shard plans for tests: two-shard groups whose weights straddle the shard boundary (on
// and off an element boundary), a quantized weight and a bool. Test-only.

import type { TfjsShardPlan } from '../tfjs-shard.js';
import { parseWeightsManifest, type TfjsGroup } from '../weights-manifest.js';

function manifest(weights: object[], paths = ['group1-shard1of2.bin', 'group1-shard2of2.bin']): object {
  return { paths, weights };
}

const q = { name: 'q', shape: [2, 4], dtype: 'float32', quantization: { dtype: 'uint8', min: -1, scale: 0.01 } };
const b = { name: 'b', shape: [3], dtype: 'bool' };

/**
 * Group 1: a f32[300] (1200 B) · b bool[3] · q uint8-quantized f32[2,4] (8 B) · c i32[60] (240 B) = 1451 B in shards
 * of 1024 + 427 bytes (a is split on an element boundary). Group 2: e f32[2,40] in one shard.
 */
export const MODEL_JSON = JSON.stringify({
  format: 'graph-model',
  modelTopology: { node: [] },
  weightsManifest: [
    manifest([{ name: 'a', shape: [300], dtype: 'float32' }, b, q, { name: 'c', shape: [60], dtype: 'int32' }]),
    manifest([{ name: 'e', shape: [2, 40], dtype: 'float32' }], ['extra.bin']),
  ],
});
export const GROUPS = parseWeightsManifest(MODEL_JSON, { fileName: 'model.json' });
export const SHARD_SIZES = [1024, 427];

/**
 * a f32[40] (160 B) · b · q · c i32[60] (240 B) = 411 B in shards of 200 + 211 bytes: c is split 29 + 211 bytes, off
 * an element boundary.
 */
export const UNALIGNED = parseWeightsManifest(
  JSON.stringify({
    weightsManifest: [
      manifest([{ name: 'a', shape: [40], dtype: 'float32' }, b, q, { name: 'c', shape: [60], dtype: 'int32' }]),
    ],
  }),
  { fileName: 'model.json' },
)[0]!;

export function shardPlan(shardIndex: number, group: TfjsGroup = GROUPS[0]!, firstShardBytes = 1024): TfjsShardPlan {
  const shardStarts = [0, firstShardBytes].slice(0, shardIndex + 1);
  return { modelJson: 'model.json', group, groupIndex: 0, shardIndex, shardStarts };
}

export const counting = (n: number, start = 0): Uint8Array =>
  Uint8Array.from({ length: n }, (_, i) => (start + i) % 251);
