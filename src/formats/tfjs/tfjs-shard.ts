// A TF.js weight shard as a checkpoint: given the model.json's layout and where this shard sits in its group's
// buffer, the pieces of weights inside the shard become tensor extents (a weight split across shards gives one
// piece per shard, `name#part<k>`). Pure: the caller finds the model.json and the sizes of the earlier shards.

import { FormatError } from '../../errors.js';
import type { ByteSource, Checkpoint, FormatModule, ParseOptions, TensorExtent, TensorView } from '../format-module.js';
import type { TfjsGroup } from './weights-manifest.js';

/** Name of the checkpoint format of a shard, as manifests record it. */
export const TFJS_SHARD_FORMAT = 'tfjs-shard';
/** Every shard but the last is a multiple of this size (tensorflowjs_converter's shard sizes are whole KiB). */
const SHARD_SIZE_STEP = 1024;

export interface TfjsShardPlan {
  /** File name of the model.json (metadata and messages). */
  modelJson: string;
  group: TfjsGroup;
  groupIndex: number;
  shardIndex: number;
  /**
   * Where shards 0 … shardIndex start in the group's buffer (each the sum of the sizes of the shards before it);
   * the last one is this shard's start.
   */
  shardStarts: readonly number[];
}

/**
 * The checkpoint of one shard of `sizeBytes` bytes: every weight byte range overlapping the shard is an extent (dtype
 * of the stored elements when the piece holds whole elements, else U8 with `storedType`); bytes outside every weight
 * are frame. Throws FORMAT_BAD_OFFSETS when the shard would start past the end of its group's weights.
 *
 * @example
 * const checkpoint = layoutTfjsShard(plan, 4_194_304, 'group1-shard1of2.bin');
 */
export function layoutTfjsShard(plan: TfjsShardPlan, sizeBytes: number, fileName: string): Checkpoint {
  const { group } = plan;
  const start = plan.shardStarts[plan.shardIndex];
  if (start === undefined || plan.shardStarts.length !== plan.shardIndex + 1) {
    throw new RangeError(`layoutTfjsShard: shardStarts must hold ${plan.shardIndex + 1} offsets`);
  }
  const end = start + sizeBytes;
  if (start > group.totalBytes) {
    throw new FormatError(
      'FORMAT_BAD_OFFSETS',
      `${fileName}: shard starts at byte ${start} of its group's buffer, past the ${group.totalBytes} bytes of weights in ${plan.modelJson}`,
      { file: fileName },
    );
  }
  const extents: TensorExtent[] = [];
  const tensors: TensorView[] = [];
  for (const w of group.weights) {
    const a = Math.max(w.offsetBytes, start);
    const b = Math.min(w.offsetBytes + w.sizeBytes, end);
    if (
      b < a ||
      (b === a && w.sizeBytes > 0) ||
      (w.sizeBytes === 0 && (w.offsetBytes < start || w.offsetBytes >= end))
    ) {
      continue;
    }
    const split = a !== w.offsetBytes || b !== w.offsetBytes + w.sizeBytes;
    // Part k of a split weight: 1 + the shard starts that fall inside the weight, up to this piece's start.
    const name = split
      ? `${w.name}#part${1 + plan.shardStarts.filter((s) => s > w.offsetBytes && s <= a).length}`
      : w.name;
    const whole = (a - w.offsetBytes) % w.elementBytes === 0 && (b - a) % w.elementBytes === 0;
    const piece = (b - a) / w.elementBytes;
    const dtype = whole ? w.dtype : 'U8';
    const shape = split ? [whole ? piece : b - a] : w.shape;
    extents.push({ name, dtype, shape, offsetBytes: a - start, sizeBytes: b - a });
    const view: TensorView = { name, dtype, shape, extent: extents.length - 1 };
    if (w.storedType !== undefined || !whole) {
      view.storedType = w.storedType ?? `bytes of ${w.dtype}`;
      view.storedShape = w.shape;
    } else if (split) {
      view.storedShape = w.shape;
    }
    tensors.push(view);
  }
  return {
    format: TFJS_SHARD_FORMAT,
    metadata: {
      'tfjs.model': plan.modelJson,
      'tfjs.shard': `group ${plan.groupIndex + 1}, shard ${plan.shardIndex + 1} of ${group.paths.length}, buffer bytes ${start}–${end}`,
    },
    extents,
    tensors,
    sizeBytes,
  };
}

/**
 * True when a shard of `sizeBytes` bytes has the size its plan implies: the last shard of a group holds exactly the
 * rest of the weights; an earlier one is a whole number of KiB (converters cut 4 MiB shards by default), ends before
 * the weights do, and (after the first) is as big as the first. A shard has no magic number, so this is all there is.
 *
 * @example
 * shardSizeFits(plan, 4_194_304); // → true for a full-size middle shard
 */
export function shardSizeFits(plan: TfjsShardPlan, sizeBytes: number): boolean {
  const start = plan.shardStarts[plan.shardIndex] ?? 0;
  const rest = plan.group.totalBytes - start;
  if (plan.shardIndex === plan.group.paths.length - 1) return sizeBytes === rest;
  if (sizeBytes <= 0 || sizeBytes >= rest || sizeBytes % SHARD_SIZE_STEP !== 0) return false;
  return plan.shardIndex === 0 || sizeBytes === plan.shardStarts[1];
}

/**
 * A FormatModule for one shard, closing over its plan: `detect` checks the size (`shardSizeFits`; a shard has no
 * magic, the caller found it through the model.json), `parse` lays any bytes out with `layoutTfjsShard`.
 *
 * @example
 * const module = tfjsShardModule(plan); await module.parse(source, { fileName: 'group1-shard2of2.bin' });
 */
export function tfjsShardModule(plan: TfjsShardPlan): FormatModule {
  return {
    name: TFJS_SHARD_FORMAT,
    detect: (_head: Uint8Array, sizeBytes: number) => shardSizeFits(plan, sizeBytes),
    parse: (source: ByteSource, options: ParseOptions) =>
      Promise.resolve(layoutTfjsShard(plan, source.sizeBytes, options.fileName)),
  };
}
