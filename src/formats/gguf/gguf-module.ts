// The GGUF FormatModule (llama.cpp, versions 2 and 3): walks the header, typed metadata and tensor infos through a
// ByteSource, checking every count and length against a limit and the bytes left before reading. Pure: no I/O of
// its own, never reads tensor data. Quantized tensors are opaque U8 blocks; `storedType` names the ggml type.

import { FormatError } from '../../errors.js';
import type { ByteSource, Checkpoint, FormatModule, ParseOptions, TensorExtent, TensorView } from '../format-module.js';
import { GGML_TYPES } from './ggml-types.js';
import { SourceCursor } from './source-cursor.js';

/** `GGUF` read as bytes. */
const MAGIC = [0x47, 0x47, 0x55, 0x46] as const;
/** A KV count beyond this is a lying header (CWE-770: a loop or allocation sized by a hostile count). */
export const MAX_GGUF_KV_COUNT = 1_000_000;
/** Tensor count limit (CWE-770); real models hold a few thousand tensors. */
export const MAX_GGUF_TENSOR_COUNT = 1_000_000;
/** Longest key or string value read into memory (CWE-770); array strings are skipped, not read. */
export const MAX_GGUF_STRING_BYTES = 16 * 1024 * 1024;
/** Longest tensor name (llama.cpp allows 63 bytes; the manifest must be able to hold it). */
export const MAX_GGUF_NAME_BYTES = 4096;
/** Longest metadata array (CWE-834: a loop driven by a hostile length). */
export const MAX_GGUF_ARRAY_LENGTH = 1 << 30;
/** Arrays of arrays nest at most this deep (CWE-674: unbounded recursion). */
export const MAX_GGUF_ARRAY_DEPTH = 8;
/** ggml tensors have at most 4 dimensions (GGML_MAX_DIMS). */
export const MAX_GGUF_DIMS = 4;
/** Largest `general.alignment` accepted (a huge one would only hide data past the end of the file). */
export const MAX_GGUF_ALIGNMENT = 1 << 24;
/** Metadata strings longer than this are cut in `Checkpoint.metadata` (display only). */
const METADATA_STRING_CHARS = 1024;
/** Arrays up to this length are listed in full in `Checkpoint.metadata`; longer ones are summarised. */
const METADATA_ARRAY_ITEMS = 16;
const DEFAULT_ALIGNMENT = 32;

const TYPE_STRING = 8;
const TYPE_ARRAY = 9;
/** Value types by id: name and fixed size in bytes (strings and arrays are variable). */
const VALUE_TYPES: readonly { name: string; size: number }[] = [
  { name: 'uint8', size: 1 },
  { name: 'int8', size: 1 },
  { name: 'uint16', size: 2 },
  { name: 'int16', size: 2 },
  { name: 'uint32', size: 4 },
  { name: 'int32', size: 4 },
  { name: 'float32', size: 4 },
  { name: 'bool', size: 1 },
  { name: 'string', size: 0 },
  { name: 'array', size: 0 },
  { name: 'uint64', size: 8 },
  { name: 'int64', size: 8 },
  { name: 'float64', size: 8 },
];

const UTF8 = new TextDecoder('utf-8', { fatal: true });
const UTF8_LENIENT = new TextDecoder('utf-8');

/**
 * True when `head` starts with the GGUF magic.
 *
 * @example
 * detectGguf(new TextEncoder().encode('GGUF\x03\0\0\0'), 8); // → true
 */
export function detectGguf(head: Uint8Array, sizeBytes: number): boolean {
  return sizeBytes >= 4 && head.length >= 4 && MAGIC.every((b, i) => head[i] === b);
}

/** The shortest decimal that reads back as the same float32. */
function float32Text(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  for (let p = 1; p <= 9; p++) {
    const s = Number(v.toPrecision(p));
    if (Math.fround(s) === v) return String(s);
  }
  return String(v);
}

class GgufReader {
  readonly cursor: SourceCursor;
  constructor(
    source: ByteSource,
    readonly fileName: string,
  ) {
    this.cursor = new SourceCursor(source, fileName);
  }

  fail(code: ConstructorParameters<typeof FormatError>[0], message: string, tensor?: string): never {
    throw new FormatError(code, `${this.fileName}: ${message}`, {
      file: this.fileName,
      ...(tensor === undefined ? {} : { tensor }),
    });
  }

  /** A count or length as a number, after checking it against `limit` and against the bytes left (`minBytes` each). */
  count(n: bigint, limit: number, minBytes: number, what: string): number {
    if (n > BigInt(limit)) this.fail('FORMAT_LIMIT', `${what} ${n} exceeds the limit of ${limit}`);
    const value = Number(n);
    if (value * minBytes > this.cursor.remaining) {
      this.fail(
        'FORMAT_TRUNCATED',
        `${what} ${value} needs at least ${value * minBytes} bytes but only ${this.cursor.remaining} are left after byte ${this.cursor.at}`,
      );
    }
    return value;
  }

  async stringBytes(limit: number, what: string): Promise<Uint8Array> {
    const n = this.count(await this.cursor.u64(`length of ${what}`), limit, 1, `length of ${what}`);
    return this.cursor.bytes(n, what);
  }

  async name(what: string): Promise<string> {
    const bytes = await this.stringBytes(MAX_GGUF_NAME_BYTES, what);
    if (bytes.length === 0) this.fail('FORMAT_BAD_HEADER', `${what} at byte ${this.cursor.at - 8} is empty`);
    try {
      return UTF8.decode(bytes);
    } catch {
      return this.fail('FORMAT_BAD_HEADER', `${what} at byte ${this.cursor.at - bytes.length} is not valid UTF-8`);
    }
  }

  /** Reads one value of `type`; returns its text for metadata (arrays summarised) and the raw number if any. */
  async value(type: number, key: string, depth: number): Promise<{ text: string; number?: number | bigint }> {
    const what = `value of ${JSON.stringify(key)}`;
    const c = this.cursor;
    switch (type) {
      case 0:
      case 2:
      case 4: {
        const size = VALUE_TYPES[type]!.size;
        const v = await c.view(size, what);
        const n = size === 1 ? v.getUint8(0) : size === 2 ? v.getUint16(0, true) : v.getUint32(0, true);
        return { text: String(n), number: n };
      }
      case 1:
        return this.numberText((await c.view(1, what)).getInt8(0));
      case 3:
        return this.numberText((await c.view(2, what)).getInt16(0, true));
      case 5:
        return this.numberText((await c.view(4, what)).getInt32(0, true));
      case 6:
        return { text: float32Text((await c.view(4, what)).getFloat32(0, true)) };
      case 7:
        return { text: (await c.u8(what)) === 0 ? 'false' : 'true' };
      case TYPE_STRING: {
        const text = UTF8_LENIENT.decode(await this.stringBytes(MAX_GGUF_STRING_BYTES, what));
        return { text: text.length > METADATA_STRING_CHARS ? `${text.slice(0, METADATA_STRING_CHARS)}…` : text };
      }
      case TYPE_ARRAY:
        return { text: await this.array(key, depth + 1) };
      case 10: {
        const n = (await c.view(8, what)).getBigUint64(0, true);
        return { text: String(n), number: n };
      }
      case 11:
        return this.numberText((await c.view(8, what)).getBigInt64(0, true));
      case 12:
        return { text: String((await c.view(8, what)).getFloat64(0, true)) };
      default:
        return this.fail('FORMAT_BAD_HEADER', `${what} has unknown value type ${type} at byte ${c.at - 4}`);
    }
  }

  private numberText(n: number | bigint): { text: string; number: number | bigint } {
    return { text: String(n), number: n };
  }

  /** Reads an array (type, length, items) and returns its text: the items when few, else `type[length]`. */
  async array(key: string, depth: number): Promise<string> {
    if (depth > MAX_GGUF_ARRAY_DEPTH) {
      this.fail('FORMAT_LIMIT', `array ${JSON.stringify(key)} nests deeper than the limit of ${MAX_GGUF_ARRAY_DEPTH}`);
    }
    const c = this.cursor;
    const itemType = await c.u32(`array type of ${JSON.stringify(key)}`);
    const info = VALUE_TYPES[itemType];
    if (!info) this.fail('FORMAT_BAD_HEADER', `array ${JSON.stringify(key)} has unknown item type ${itemType}`);
    const minBytes = itemType === TYPE_STRING ? 8 : itemType === TYPE_ARRAY ? 12 : info.size;
    const length = this.count(
      await c.u64(`array length of ${JSON.stringify(key)}`),
      MAX_GGUF_ARRAY_LENGTH,
      minBytes,
      `array length of ${JSON.stringify(key)}`,
    );
    const summary = `${info.name}[${length}]`;
    if (length > METADATA_ARRAY_ITEMS) {
      if (info.size > 0) {
        c.skip(length * info.size, `array ${JSON.stringify(key)}`);
      } else if (itemType === TYPE_STRING) {
        for (let i = 0; i < length; i++) {
          const n = this.count(
            await c.u64(`string length in ${JSON.stringify(key)}`),
            MAX_GGUF_STRING_BYTES,
            1,
            'string length',
          );
          c.skip(n, `string in array ${JSON.stringify(key)}`);
        }
      } else {
        for (let i = 0; i < length; i++) await this.array(key, depth + 1);
      }
      return summary;
    }
    const items: string[] = [];
    for (let i = 0; i < length; i++) {
      const { text } = await this.value(itemType, key, depth);
      items.push(itemType === TYPE_STRING ? JSON.stringify(text) : text);
    }
    return `${summary}: [${items.join(', ')}]`;
  }
}

/**
 * Parses a GGUF v2/v3 file: header, metadata KVs (→ `metadata` as text, arrays summarised, plus `gguf.version`),
 * tensor infos and alignment. Plain tensors (F32, F16, BF16, F64, I8–I64) get their dtype and the row-major shape
 * (GGUF lists dimensions fastest-first, so the shape is reversed); quantized tensors are U8 extents of their block
 * bytes, with `storedType` (e.g. `Q4_K`) and `storedShape` (the logical row-major shape) on the view. Throws
 * `FormatError`: FORMAT_UNSUPPORTED for v1 and big-endian files, FORMAT_LIMIT/FORMAT_TRUNCATED for lying counts.
 *
 * @example
 * const checkpoint = await parseGguf(bytesSource(bytes), { fileName: 'model.gguf' });
 */
export async function parseGguf(source: ByteSource, options: ParseOptions): Promise<Checkpoint> {
  const { fileName } = options;
  const r: GgufReader = new GgufReader(source, fileName);
  const c = r.cursor;
  const magic = await c.bytes(4, 'magic');
  if (!MAGIC.every((b, i) => magic[i] === b)) r.fail('FORMAT_BAD_HEADER', 'does not start with the magic "GGUF"');
  const version = await c.u32('version');
  if (version === 1) {
    r.fail('FORMAT_UNSUPPORTED', 'GGUF version 1 (32-bit counts, before August 2023) is not supported; convert to v3');
  }
  if (version !== 2 && version !== 3) {
    const swapped =
      ((version & 0xff) << 24) | (((version >>> 8) & 0xff) << 16) | (((version >>> 16) & 0xff) << 8) | (version >>> 24);
    if (swapped >= 1 && swapped <= 3)
      r.fail('FORMAT_UNSUPPORTED', `big-endian GGUF (version ${swapped}) is not supported`);
    r.fail('FORMAT_UNSUPPORTED', `GGUF version ${version} is not supported (only 2 and 3)`);
  }
  const tensorCountRaw = await c.u64('tensor count');
  const kvCountRaw = await c.u64('metadata count');
  // Check both limits before the byte checks, so a header claiming 10^12 of each fails on the first number.
  if (tensorCountRaw > BigInt(MAX_GGUF_TENSOR_COUNT)) {
    r.fail('FORMAT_LIMIT', `tensor count ${tensorCountRaw} exceeds the limit of ${MAX_GGUF_TENSOR_COUNT}`);
  }
  // Each KV needs at least a key length (8), a non-empty key (1), a type (4) and a 1-byte value.
  const kvCount = r.count(kvCountRaw, MAX_GGUF_KV_COUNT, 14, 'metadata count');
  const metadata: Record<string, string> = { 'gguf.version': String(version) };
  const keys = new Set<string>();
  let alignment = DEFAULT_ALIGNMENT;
  for (let i = 0; i < kvCount; i++) {
    const key = await r.name(`metadata key ${i}`);
    if (keys.has(key)) r.fail('FORMAT_BAD_HEADER', `metadata key ${JSON.stringify(key)} appears twice`);
    keys.add(key);
    const type = await c.u32(`value type of ${JSON.stringify(key)}`);
    const { text, number } = await r.value(type, key, 0);
    if (key === 'general.alignment') {
      if (type !== 4) r.fail('FORMAT_BAD_HEADER', `general.alignment has value type ${type}, not uint32 (4)`);
      const a = Number(number);
      if (a === 0 || (a & (a - 1)) !== 0 || a > MAX_GGUF_ALIGNMENT) {
        r.fail('FORMAT_BAD_HEADER', `general.alignment ${a} is not a power of two up to ${MAX_GGUF_ALIGNMENT}`);
      }
      alignment = a;
    }
    metadata[key] = text;
  }
  // Each tensor info needs at least a name (8 + 1), n_dims (4), a type (4) and an offset (8).
  const tensorCount = r.count(tensorCountRaw, MAX_GGUF_TENSOR_COUNT, 25, 'tensor count');
  interface Info {
    name: string;
    dims: number[];
    typeId: number;
    offset: number;
    sizeBytes: number;
  }
  const infos: Info[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = await r.name(`tensor name ${i}`);
    if (names.has(name)) r.fail('FORMAT_BAD_HEADER', `tensor ${JSON.stringify(name)} appears twice`, name);
    names.add(name);
    const nDims = await c.u32(`dimension count of ${JSON.stringify(name)}`);
    if (nDims > MAX_GGUF_DIMS) {
      r.fail(
        'FORMAT_LIMIT',
        `tensor ${JSON.stringify(name)} has ${nDims} dimensions, over the limit of ${MAX_GGUF_DIMS}`,
        name,
      );
    }
    const dims: number[] = [];
    let numel = 1n;
    for (let d = 0; d < nDims; d++) {
      const n = await c.u64(`dimension ${d} of ${JSON.stringify(name)}`);
      numel *= n;
      if (numel > BigInt(Number.MAX_SAFE_INTEGER)) {
        r.fail(
          'FORMAT_BAD_SHAPE',
          `tensor ${JSON.stringify(name)} has more than 2^53 elements (dimension ${d} = ${n})`,
          name,
        );
      }
      dims.push(Number(n));
    }
    const typeId = await c.u32(`type of ${JSON.stringify(name)}`);
    const type = GGML_TYPES.get(typeId);
    if (!type) r.fail('FORMAT_BAD_DTYPE', `tensor ${JSON.stringify(name)} has unknown ggml type ${typeId}`, name);
    const rowLength = dims[0] ?? 1;
    if (rowLength % type.blockElements !== 0) {
      r.fail(
        'FORMAT_BAD_SHAPE',
        `tensor ${JSON.stringify(name)} of type ${type.name} has rows of ${rowLength} elements, not a multiple of its block of ${type.blockElements}`,
        name,
      );
    }
    const offset = await c.u64(`offset of ${JSON.stringify(name)}`);
    if (offset > BigInt(Number.MAX_SAFE_INTEGER)) {
      r.fail('FORMAT_BAD_OFFSETS', `tensor ${JSON.stringify(name)} has offset ${offset}, beyond 2^53`, name);
    }
    if (offset % BigInt(alignment) !== 0n) {
      r.fail(
        'FORMAT_BAD_OFFSETS',
        `tensor ${JSON.stringify(name)} has offset ${offset}, not a multiple of the alignment ${alignment}`,
        name,
      );
    }
    const sizeBytes = (Number(numel) / type.blockElements) * type.blockBytes;
    infos.push({ name, dims, typeId, offset: Number(offset), sizeBytes });
  }
  const dataStart = Math.ceil(c.at / alignment) * alignment;
  const sizeBytes = c.sizeBytes;
  const order = infos.map((_, i) => i).sort((a, b) => infos[a]!.offset - infos[b]!.offset);
  const extents: TensorExtent[] = [];
  const tensors: TensorView[] = [];
  let dataEnd = 0;
  for (const i of order) {
    const info = infos[i]!;
    const type = GGML_TYPES.get(info.typeId)!;
    if (info.offset < dataEnd) {
      r.fail(
        'FORMAT_BAD_OFFSETS',
        `tensor ${JSON.stringify(info.name)} at data offset ${info.offset} overlaps the tensor before it (ending at ${dataEnd})`,
        info.name,
      );
    }
    const end = dataStart + info.offset + info.sizeBytes;
    if (end > sizeBytes) {
      r.fail(
        'FORMAT_TRUNCATED',
        `tensor ${JSON.stringify(info.name)} ends at byte ${end} but the file has ${sizeBytes} bytes`,
        info.name,
      );
    }
    dataEnd = info.offset + info.sizeBytes;
    const shape = [...info.dims].reverse();
    const extentShape = type.dtype ? shape : [info.sizeBytes];
    const dtype = type.dtype ?? 'U8';
    extents.push({
      name: info.name,
      dtype,
      shape: extentShape,
      offsetBytes: dataStart + info.offset,
      sizeBytes: info.sizeBytes,
    });
    const view: TensorView = { name: info.name, dtype, shape: extentShape, extent: extents.length - 1 };
    if (!type.dtype) {
      view.storedType = type.name;
      view.storedShape = shape;
    }
    tensors.push(view);
  }
  // The data section ends at the last tensor, padded to the alignment (writers pad after every tensor); a file
  // without tensors may end right after the tensor infos.
  const minEnd = infos.length === 0 ? c.at : dataStart + dataEnd;
  const maxEnd = dataStart + Math.ceil(dataEnd / alignment) * alignment;
  if (sizeBytes < minEnd) {
    r.fail('FORMAT_TRUNCATED', `data section ends at byte ${minEnd} but the file has ${sizeBytes} bytes`);
  }
  if (sizeBytes > maxEnd) {
    r.fail(
      'FORMAT_TRAILING_BYTES',
      `${sizeBytes - maxEnd} bytes follow the data section (which ends at byte ${maxEnd})`,
    );
  }
  return { format: 'gguf', metadata, extents, tensors, sizeBytes };
}

/** The GGUF format: `{name: 'gguf', detect, parse}`. */
export const ggufModule: FormatModule = { name: 'gguf', detect: detectGguf, parse: parseGguf };
