// Validates a safetensors header (the JSON after the 8-byte length) against the file size and turns it into a
// Checkpoint: extents in file order, one view per extent. Pure: never reads the file, never trusts a number unchecked.

import { FormatError, type FormatErrorCode } from '../../errors.js';
import { DTYPES, type Dtype, dtypeSize, isDtype } from '../../tensor/dtype.js';
import { describeText, describeValue, quoteName } from '../describe-value.js';
import type { Checkpoint, TensorExtent, TensorView } from '../format-module.js';
import { scanJsonKeys } from './scan-json-keys.js';

/** Bytes of the little-endian u64 header length that opens every safetensors file. */
export const SAFETENSORS_PREFIX_BYTES = 8;

/**
 * Largest header accepted, in bytes: the reference implementation's `MAX_HEADER_SIZE`. Bounds the memory that
 * decoding and JSON-parsing an attacker's header can take (CWE-770).
 */
export const MAX_SAFETENSORS_HEADER_BYTES = 100_000_000;

/** Most tensors in one file: bounds the per-tensor tables built from one header (CWE-770). */
export const MAX_SAFETENSORS_TENSORS = 1_000_000;

/**
 * Largest element count, byte size or offset accepted: beyond it a JS number is not exact, so sizes and offsets
 * would silently round (CWE-190).
 */
export const MAX_EXACT_BYTES = Number.MAX_SAFE_INTEGER;

/** The key of the optional string→string map in a safetensors header. */
export const SAFETENSORS_METADATA_KEY = '__metadata__';

export interface SafetensorsHeaderOptions {
  /** Shown at the start of every error message. */
  fileName: string;
  /** Size of the whole file: the data buffer must end exactly there. */
  fileSizeBytes: number;
}

/** One validated tensor entry; offsets relative to the data buffer (as in the header). */
interface Entry {
  name: string;
  dtype: Dtype;
  shape: number[];
  begin: number;
  end: number;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
// A lone surrogate can only come from a JSON escape such as "\ud800"; the reference (Rust) parser rejects it.
const LONE_SURROGATE = /[\ud800-\udfff]/u;
const OPEN_BRACE = 0x7b;

/**
 * Parses the header JSON of a safetensors file (the `N` bytes after the 8-byte length prefix) and checks it against
 * the file size. The data buffer starts at byte `8 + headerBytes.length`. Extra keys in a tensor entry are ignored
 * (as the reference implementation does; they stay in the frame byte for byte). Throws `FormatError` with a message
 * that starts with the file name and names the tensor, the bad value and the limit.
 *
 * @example
 * const header = new TextEncoder().encode('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}');
 * const checkpoint = parseSafetensorsHeader(header, { fileName: 'model.safetensors', fileSizeBytes: 8 + 54 + 8 });
 * checkpoint.extents[0]; // → { name: 'w', dtype: 'F32', shape: [2], offsetBytes: 62, sizeBytes: 8 }
 */
export function parseSafetensorsHeader(headerBytes: Uint8Array, options: SafetensorsHeaderOptions): Checkpoint {
  const { fileName, fileSizeBytes } = options;
  const fail = (code: FormatErrorCode, message: string, tensor?: string): never => {
    throw new FormatError(
      code,
      `${fileName}: ${message}`,
      tensor === undefined ? { file: fileName } : { file: fileName, tensor },
    );
  };

  if (headerBytes.length > MAX_SAFETENSORS_HEADER_BYTES) {
    fail(
      'FORMAT_LIMIT',
      `header length ${headerBytes.length} bytes exceeds the limit of ${MAX_SAFETENSORS_HEADER_BYTES} bytes`,
    );
  }
  const dataStart = SAFETENSORS_PREFIX_BYTES + headerBytes.length;
  if (dataStart > fileSizeBytes) {
    fail(
      'FORMAT_TRUNCATED',
      `header of ${headerBytes.length} bytes ends at byte ${dataStart} but the file has ${fileSizeBytes} bytes`,
    );
  }
  if (headerBytes[0] !== OPEN_BRACE) {
    const first = headerBytes[0];
    fail(
      'FORMAT_BAD_HEADER',
      first === undefined
        ? 'header is empty; it must be a JSON object'
        : `header must start with '{' but starts with byte 0x${first.toString(16).padStart(2, '0')}`,
    );
  }

  let text = '';
  try {
    text = UTF8.decode(headerBytes);
  } catch (cause) {
    throw new FormatError('FORMAT_BAD_HEADER', `${fileName}: header is not valid UTF-8`, { file: fileName, cause });
  }
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new FormatError('FORMAT_BAD_HEADER', `${fileName}: header is not valid JSON (${describeText(reason)})`, {
      file: fileName,
      cause,
    });
  }
  if (!isJsonObject(root)) fail('FORMAT_BAD_HEADER', `header is ${describeValue(root)}, not a JSON object`);
  const header = root as Record<string, unknown>;
  // Counted before the key scan, which costs more per key than JSON.parse did.
  const keyCount = Object.keys(header).length;
  const tensorCount = keyCount - (Object.hasOwn(header, SAFETENSORS_METADATA_KEY) ? 1 : 0);
  if (tensorCount > MAX_SAFETENSORS_TENSORS) {
    fail('FORMAT_LIMIT', `header declares ${tensorCount} tensors, over the limit of ${MAX_SAFETENSORS_TENSORS}`);
  }
  const { duplicate, rootKeys } = scanJsonKeys(text);
  if (duplicate !== undefined) {
    fail('FORMAT_BAD_HEADER', `header has the key ${quoteName(duplicate)} twice`, duplicate);
  }

  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  // In the order written (Object.entries would move integer-like names first).
  for (const name of rootKeys) {
    const value = header[name];
    if (name === SAFETENSORS_METADATA_KEY) metadata = parseMetadata(value, fail);
    else entries.push(parseEntry(name, value, fail));
  }

  // File order: by offsets. The sort is stable, so empty tensors that share an offset keep the header's order,
  // which is the order the reference writer gave them.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let bufferEnd = 0;
  let previous: Entry | undefined;
  for (const entry of entries) {
    if (entry.begin !== bufferEnd) {
      const where = `data_offsets [${entry.begin},${entry.end}]`;
      if (previous === undefined) {
        fail(
          'FORMAT_BAD_OFFSETS',
          `tensor ${quoteName(entry.name)} ${where}: the first tensor must start at data offset 0`,
          entry.name,
        );
      } else if (entry.begin < bufferEnd) {
        fail(
          'FORMAT_BAD_OFFSETS',
          `tensor ${quoteName(entry.name)} ${where} overlaps tensor ${quoteName(previous.name)} data_offsets [${previous.begin},${previous.end}]`,
          entry.name,
        );
      } else {
        fail(
          'FORMAT_BAD_OFFSETS',
          `tensor ${quoteName(entry.name)} ${where} leaves a gap of ${entry.begin - bufferEnd} bytes after tensor ${quoteName(previous.name)} data_offsets [${previous.begin},${previous.end}]`,
          entry.name,
        );
      }
    }
    bufferEnd = entry.end;
    previous = entry;
  }

  const available = fileSizeBytes - dataStart;
  if (bufferEnd > available) {
    const last = previous as Entry;
    const endByte = BigInt(dataStart) + BigInt(bufferEnd);
    fail(
      'FORMAT_TRUNCATED',
      `tensor ${quoteName(last.name)} ends at byte ${endByte} but the file has ${fileSizeBytes} bytes`,
      last.name,
    );
  }
  if (bufferEnd < available) {
    fail(
      'FORMAT_TRAILING_BYTES',
      `data ends at byte ${dataStart + bufferEnd} but the file has ${fileSizeBytes} bytes (${available - bufferEnd} trailing byte${available - bufferEnd === 1 ? '' : 's'})`,
    );
  }

  const extents: TensorExtent[] = [];
  const tensors: TensorView[] = [];
  for (const [index, entry] of entries.entries()) {
    extents.push({
      name: entry.name,
      dtype: entry.dtype,
      shape: entry.shape,
      offsetBytes: dataStart + entry.begin,
      sizeBytes: entry.end - entry.begin,
    });
    tensors.push({ name: entry.name, dtype: entry.dtype, shape: entry.shape.slice(), extent: index });
  }
  return { format: 'safetensors', metadata, extents, tensors, sizeBytes: fileSizeBytes };
}

type Fail = (code: FormatErrorCode, message: string, tensor?: string) => never;

function parseMetadata(value: unknown, fail: Fail): Record<string, string> {
  if (!isJsonObject(value)) {
    fail('FORMAT_BAD_HEADER', `"${SAFETENSORS_METADATA_KEY}" is ${describeValue(value)}, not an object of strings`);
  }
  const pairs = Object.entries(value as Record<string, unknown>);
  for (const [key, item] of pairs) {
    if (LONE_SURROGATE.test(key) || (typeof item === 'string' && LONE_SURROGATE.test(item))) {
      fail(
        'FORMAT_BAD_HEADER',
        `"${SAFETENSORS_METADATA_KEY}" key ${quoteName(key)} holds an unpaired UTF-16 surrogate`,
      );
    }
    if (typeof item !== 'string') {
      fail(
        'FORMAT_BAD_HEADER',
        `"${SAFETENSORS_METADATA_KEY}" key ${quoteName(key)} is ${describeValue(item)}, not a string`,
      );
    }
  }
  // fromEntries defines own properties, so a key such as "__proto__" is kept as data.
  return Object.fromEntries(pairs) as Record<string, string>;
}

function parseEntry(name: string, value: unknown, fail: Fail): Entry {
  const tensor = `tensor ${quoteName(name)}`;
  if (LONE_SURROGATE.test(name)) fail('FORMAT_BAD_HEADER', `${tensor} name holds an unpaired UTF-16 surrogate`, name);
  if (!isJsonObject(value)) fail('FORMAT_BAD_HEADER', `${tensor} is ${describeValue(value)}, not an object`, name);
  const info = value as Record<string, unknown>;
  const field = (key: string): unknown => (Object.hasOwn(info, key) ? info[key] : undefined);

  const dtype = field('dtype');
  if (!isDtype(dtype)) {
    fail('FORMAT_BAD_DTYPE', `${tensor} has unknown dtype ${describeValue(dtype)} (known: ${DTYPES.join(', ')})`, name);
  }
  const elementBytes = dtypeSize(dtype as Dtype);

  const rawShape = field('shape');
  if (!Array.isArray(rawShape)) {
    fail('FORMAT_BAD_SHAPE', `${tensor} shape is ${describeValue(rawShape)}, not an array of dimensions`, name);
  }
  const shapeArray = rawShape as unknown[];
  const shape: number[] = [];
  let numel = 1;
  for (const dim of shapeArray) {
    if (!isCount(dim)) {
      fail(
        'FORMAT_BAD_SHAPE',
        `${tensor} shape ${describeValue(rawShape)} has the dimension ${describeValue(dim)}; dimensions are integers from 0 to ${MAX_EXACT_BYTES}`,
        name,
      );
    }
    // Checked in order, like the reference's checked_mul: every partial product must stay exact.
    numel *= dim as number;
    if (numel > MAX_EXACT_BYTES) {
      fail(
        'FORMAT_BAD_SHAPE',
        `${tensor} shape ${describeValue(rawShape)} has more than ${MAX_EXACT_BYTES} elements`,
        name,
      );
    }
    shape.push((dim as number) + 0);
  }
  const sizeBytes = numel * elementBytes;
  if (sizeBytes > MAX_EXACT_BYTES) {
    fail(
      'FORMAT_BAD_SHAPE',
      `${tensor} shape ${describeValue(rawShape)} of ${dtype} is more than ${MAX_EXACT_BYTES} bytes`,
      name,
    );
  }

  const offsets = field('data_offsets');
  const pair = Array.isArray(offsets) && offsets.length === 2 ? (offsets as unknown[]) : undefined;
  const begin = pair?.[0];
  const end = pair?.[1];
  if (!isCount(begin) || !isCount(end)) {
    fail(
      'FORMAT_BAD_OFFSETS',
      `${tensor} data_offsets ${describeValue(offsets)} are not [begin, end] with integers from 0 to ${MAX_EXACT_BYTES}`,
      name,
    );
  }
  const b = (begin as number) + 0;
  const e = (end as number) + 0;
  if (b > e) fail('FORMAT_BAD_OFFSETS', `${tensor} data_offsets [${b},${e}] end before they begin`, name);
  if (e - b !== sizeBytes) {
    fail(
      'FORMAT_BAD_OFFSETS',
      `${tensor} shape ${describeValue(rawShape)} of ${dtype} says ${sizeBytes} bytes but data_offsets [${b},${e}] say ${e - b}`,
      name,
    );
  }
  return { name, dtype: dtype as Dtype, shape, begin: b, end: e };
}

function isJsonObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
