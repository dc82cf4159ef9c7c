// Parses `model.safetensors.index.json`, the map from tensor name to shard file of a sharded checkpoint, and refuses
// shard names that could leave the checkpoint's folder. Pure: never opens the shards (ops/ does).

import { FormatError, type FormatErrorCode } from '../../errors.js';
import { describeText, describeValue, quoteName } from '../describe-value.js';
import { scanJsonKeys } from './scan-json-keys.js';
import { compareCodePoints } from './write-safetensors.js';

/** Longest index text accepted, in UTF-16 code units: bounds what JSON.parse allocates for it (CWE-770). */
export const MAX_SHARD_INDEX_CHARS = 100_000_000;

/** Most tensors an index may map: bounds the weight map built from it (CWE-770). */
export const MAX_SHARD_INDEX_TENSORS = 10_000_000;

/** A parsed shard index. */
export interface ShardIndex {
  /** `metadata.total_size` when present: the bytes of all tensors (not of the files). */
  totalSizeBytes?: number;
  /** Every shard file the weight map names, each once, in code-point order (`model-00001-of-00003…` first). */
  files: string[];
  /** Tensor name → shard file. */
  weightMap: ReadonlyMap<string, string>;
}

// Anything that could name another folder or device: separators of any platform, drive or stream colons, NUL and
// other controls (CWE-22, path traversal).
const UNSAFE_NAME_CHARS = /[/\\:\u0000-\u001f\u007f]/;

/**
 * Parses the text of a `model.safetensors.index.json` (`{metadata: {total_size?}, weight_map: {tensor: file}}`).
 * Each shard file must be a plain file name in the index's own folder: no `/` or `\`, no `:`, not `.` or `..`, no
 * control characters; anything else is refused with `FormatError` `FORMAT_UNSAFE`. Other structural problems are
 * `FORMAT_BAD_HEADER`. Keys of `metadata` other than `total_size` are allowed and ignored.
 *
 * @example
 * const index = parseShardIndex(text, 'model.safetensors.index.json');
 * index.files; // → ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']
 */
export function parseShardIndex(text: string, fileName: string): ShardIndex {
  const fail = (code: FormatErrorCode, message: string, tensor?: string): never => {
    throw new FormatError(
      code,
      `${fileName}: ${message}`,
      tensor === undefined ? { file: fileName } : { file: fileName, tensor },
    );
  };
  if (text.length > MAX_SHARD_INDEX_CHARS) {
    fail('FORMAT_LIMIT', `index of ${text.length} characters exceeds the limit of ${MAX_SHARD_INDEX_CHARS}`);
  }
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new FormatError('FORMAT_BAD_HEADER', `${fileName}: index is not valid JSON (${describeText(reason)})`, {
      file: fileName,
      cause,
    });
  }
  if (!isJsonObject(root)) fail('FORMAT_BAD_HEADER', `index is ${describeValue(root)}, not a JSON object`);
  const { duplicate } = scanJsonKeys(text);
  if (duplicate !== undefined) fail('FORMAT_BAD_HEADER', `index has the key ${quoteName(duplicate)} twice`);
  const index = root as Record<string, unknown>;

  let totalSizeBytes: number | undefined;
  if (Object.hasOwn(index, 'metadata')) {
    const metadata = index.metadata;
    if (!isJsonObject(metadata)) fail('FORMAT_BAD_HEADER', `"metadata" is ${describeValue(metadata)}, not an object`);
    const fields = metadata as Record<string, unknown>;
    if (Object.hasOwn(fields, 'total_size')) {
      const total = fields.total_size;
      if (typeof total !== 'number' || !Number.isSafeInteger(total) || total < 0) {
        fail('FORMAT_BAD_HEADER', `"metadata.total_size" is ${describeValue(total)}, not a byte count`);
      }
      totalSizeBytes = (total as number) + 0;
    }
  }

  const rawMap = Object.hasOwn(index, 'weight_map') ? index.weight_map : undefined;
  if (!isJsonObject(rawMap)) fail('FORMAT_BAD_HEADER', `"weight_map" is ${describeValue(rawMap)}, not an object`);
  const pairs = Object.entries(rawMap as Record<string, unknown>);
  if (pairs.length > MAX_SHARD_INDEX_TENSORS) {
    fail('FORMAT_LIMIT', `"weight_map" has ${pairs.length} tensors, over the limit of ${MAX_SHARD_INDEX_TENSORS}`);
  }
  const weightMap = new Map<string, string>();
  const seen = new Set<string>();
  for (const [tensor, file] of pairs) {
    if (typeof file !== 'string') {
      fail('FORMAT_BAD_HEADER', `tensor ${quoteName(tensor)} maps to ${describeValue(file)}, not a file name`, tensor);
    }
    const name = file as string;
    if (!seen.has(name)) {
      if (name === '' || name === '.' || name === '..' || UNSAFE_NAME_CHARS.test(name)) {
        fail(
          'FORMAT_UNSAFE',
          `tensor ${quoteName(tensor)} maps to ${quoteName(name)}, which is not a plain file name beside the index`,
          tensor,
        );
      }
      seen.add(name);
    }
    weightMap.set(tensor, name);
  }
  const files = [...seen].sort(compareCodePoints);
  return totalSizeBytes === undefined ? { files, weightMap } : { totalSizeBytes, files, weightMap };
}

function isJsonObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
