// Lays out a new safetensors file exactly as the Hugging Face `safetensors` library does: data order, header JSON
// and padding, so the same tensors always give the same bytes. Pure: returns the header bytes; never writes a file.

import { FormatError, type FormatErrorCode } from '../../errors.js';
import { type Dtype, dtypeSize, isDtype } from '../../tensor/dtype.js';
import { describeValue, quoteName } from '../describe-value.js';
import type { TensorExtent } from '../format-module.js';
import {
  MAX_EXACT_BYTES,
  MAX_SAFETENSORS_HEADER_BYTES,
  MAX_SAFETENSORS_TENSORS,
  SAFETENSORS_METADATA_KEY,
  SAFETENSORS_PREFIX_BYTES,
} from './parse-header.js';

/** One tensor to lay out. `sizeBytes` must equal numel × element size (it is checked). */
export interface SafetensorsTensorSpec {
  name: string;
  dtype: Dtype;
  shape: readonly number[];
  sizeBytes: number;
}

/** Where everything goes in the file that `encodeSafetensorsHeader` lays out. */
export interface SafetensorsLayout {
  /** The first bytes of the file: the u64 length prefix, then the space-padded header JSON. */
  headerBytes: Uint8Array;
  /** Tensor names in data order: write each tensor's bytes after `headerBytes` in this order. */
  order: string[];
  /** The tensors in data order with absolute file offsets (what `parseSafetensors` will report). */
  extents: TensorExtent[];
  /** Size of the whole file. */
  sizeBytes: number;
}

/**
 * The reference writer sorts by its `Dtype` enum, descending: the enum is declared in increasing alignment, so the
 * widest types come first and every tensor starts aligned to its element size (safetensors/src/tensor.rs, `prepare`).
 */
const DTYPE_RANK: Record<Dtype, number> = {
  BOOL: 0,
  U8: 1,
  I8: 2,
  F8_E5M2: 3,
  F8_E4M3: 4,
  I16: 5,
  U16: 6,
  F16: 7,
  BF16: 8,
  I32: 9,
  U32: 10,
  F32: 11,
  F64: 12,
  I64: 13,
  U64: 14,
};

/** The header is padded with spaces to a multiple of this, as the reference writer does. */
const HEADER_ALIGNMENT_BYTES = 8;

const encoder = new TextEncoder();

/**
 * Lays out a safetensors file for `tensors` (in any order) and optional `metadata`: tensors sorted by dtype
 * alignment (descending, in the reference library's dtype order) then by name, compact header JSON with
 * `__metadata__` first (its keys sorted) and keys `dtype`, `shape`, `data_offsets`, padded with spaces to a multiple
 * of 8 bytes. This is byte for byte what Hugging Face `safetensors` writes (whose metadata order is a hash map's;
 * Weft sorts it). `metadata: {}` writes an empty `__metadata__`; `undefined` writes none.
 * Throws `FormatError` for a bad dtype, shape or size, a repeated name, or a header over the reader's limit.
 *
 * @example
 * const layout = encodeSafetensorsHeader([{ name: 'w', dtype: 'F32', shape: [2], sizeBytes: 8 }]);
 * // layout.headerBytes = 56,0,0,0,0,0,0,0 + '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}' + 2 spaces
 * // write layout.headerBytes, then the bytes of each tensor named in layout.order
 */
export function encodeSafetensorsHeader(
  tensors: readonly SafetensorsTensorSpec[],
  metadata?: Readonly<Record<string, string>>,
): SafetensorsLayout {
  if (tensors.length > MAX_SAFETENSORS_TENSORS) {
    fail('FORMAT_LIMIT', `${tensors.length} tensors is over the limit of ${MAX_SAFETENSORS_TENSORS}`);
  }
  const seen = new Set<string>();
  for (const t of tensors) {
    checkSpec(t);
    if (t.name === SAFETENSORS_METADATA_KEY) {
      fail('FORMAT_BAD_HEADER', `tensor name "${SAFETENSORS_METADATA_KEY}" is reserved for metadata`, t.name);
    }
    if (seen.has(t.name)) fail('FORMAT_BAD_HEADER', `tensor ${quoteName(t.name)} is given twice`, t.name);
    seen.add(t.name);
  }
  const sorted = tensors
    .slice()
    .sort((a, b) => DTYPE_RANK[b.dtype] - DTYPE_RANK[a.dtype] || compareCodePoints(a.name, b.name));

  const parts: string[] = [];
  if (metadata !== undefined) {
    const keys = Object.keys(metadata).sort(compareCodePoints);
    const pairs = keys.map((key) => {
      const value = metadata[key];
      if (typeof value !== 'string') {
        fail('FORMAT_BAD_HEADER', `metadata key ${quoteName(key)} is ${describeValue(value)}, not a string`);
      }
      return `${JSON.stringify(key)}:${JSON.stringify(value)}`;
    });
    parts.push(`"${SAFETENSORS_METADATA_KEY}":{${pairs.join(',')}}`);
  }
  let offset = 0;
  const relative: [number, number][] = [];
  for (const t of sorted) {
    const end = offset + t.sizeBytes;
    if (end > MAX_EXACT_BYTES)
      fail('FORMAT_LIMIT', `tensor ${quoteName(t.name)} would end past byte ${MAX_EXACT_BYTES}`, t.name);
    parts.push(
      `${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${end}]}`,
    );
    relative.push([offset, end]);
    offset = end;
  }
  const json = encoder.encode(`{${parts.join(',')}}`);
  const padded = Math.ceil(json.length / HEADER_ALIGNMENT_BYTES) * HEADER_ALIGNMENT_BYTES;
  if (padded > MAX_SAFETENSORS_HEADER_BYTES) {
    fail('FORMAT_LIMIT', `header of ${padded} bytes is over the limit of ${MAX_SAFETENSORS_HEADER_BYTES} bytes`);
  }
  const dataStart = SAFETENSORS_PREFIX_BYTES + padded;
  if (offset > MAX_EXACT_BYTES - dataStart) fail('FORMAT_LIMIT', `file would be larger than ${MAX_EXACT_BYTES} bytes`);

  const headerBytes = new Uint8Array(dataStart);
  new DataView(headerBytes.buffer).setBigUint64(0, BigInt(padded), true);
  headerBytes.set(json, SAFETENSORS_PREFIX_BYTES);
  headerBytes.fill(0x20, SAFETENSORS_PREFIX_BYTES + json.length);

  const extents = sorted.map((t, i): TensorExtent => {
    const [begin, end] = relative[i] as [number, number];
    return {
      name: t.name,
      dtype: t.dtype,
      shape: t.shape.slice(),
      offsetBytes: dataStart + begin,
      sizeBytes: end - begin,
    };
  });
  return { headerBytes, order: sorted.map((t) => t.name), extents, sizeBytes: dataStart + offset };
}

function checkSpec(t: SafetensorsTensorSpec): void {
  const tensor = `tensor ${quoteName(t.name)}`;
  if (!isDtype(t.dtype)) fail('FORMAT_BAD_DTYPE', `${tensor} has unknown dtype ${describeValue(t.dtype)}`, t.name);
  let numel = 1;
  for (const dim of t.shape) {
    if (!Number.isSafeInteger(dim) || dim < 0) {
      fail(
        'FORMAT_BAD_SHAPE',
        `${tensor} shape ${describeValue(t.shape)} has the dimension ${describeValue(dim)}`,
        t.name,
      );
    }
    numel *= dim;
    if (numel > MAX_EXACT_BYTES)
      fail('FORMAT_BAD_SHAPE', `${tensor} shape ${describeValue(t.shape)} has too many elements`, t.name);
  }
  const sizeBytes = numel * dtypeSize(t.dtype);
  if (sizeBytes !== t.sizeBytes) {
    fail(
      'FORMAT_BAD_OFFSETS',
      `${tensor} shape ${describeValue(t.shape)} of ${t.dtype} says ${sizeBytes} bytes but sizeBytes is ${describeValue(t.sizeBytes)}`,
      t.name,
    );
  }
}

function fail(code: FormatErrorCode, message: string, tensor?: string): never {
  throw new FormatError(code, `safetensors writer: ${message}`, tensor === undefined ? {} : { tensor });
}

/**
 * Orders strings by Unicode code point, which is the byte order of their UTF-8 (Rust's `String` order). Plain `<`
 * compares UTF-16 code units and puts U+E000–U+FFFF after the astral planes.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

// Surrogates (D800–DFFF) encode code points above FFFF, so they must rank after E000–FFFF.
function codePointRank(unit: number): number {
  return unit >= 0xe000 ? unit - 0x800 : unit >= 0xd800 ? unit + 0x2000 : unit;
}
