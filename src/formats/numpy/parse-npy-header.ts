// Parses the header of a `.npy` array (magic, version, the Python-literal dict {descr, fortran_order, shape}) and
// maps its dtype to Weft's. Pure; the literal parser accepts only strings, ints, booleans, None, tuples, lists and
// dicts, with bounded depth — it never evaluates anything.

import { FormatError } from '../../errors.js';
import type { Dtype } from '../../tensor/dtype.js';
import { byteSizeOf, rowMajorStrides } from '../../tensor/shape.js';
import { describeValue, quoteName } from '../describe-value.js';

/** `\x93NUMPY`. */
export const NPY_MAGIC = Uint8Array.of(0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59);
/** Magic, two version bytes and the shortest (u16) header length. */
export const NPY_PREFIX_BYTES = 10;
/** numpy itself refuses headers over 10000 bytes by default; allow more for long shapes, bounded (CWE-770). */
export const MAX_NPY_HEADER_BYTES = 1024 * 1024;
/** Nesting of the header literal (hostile `((((…`, CWE-674). */
const MAX_LITERAL_DEPTH = 16;
/** Dimensions of an array (numpy's own limit is 64). */
export const MAX_NPY_DIMS = 64;

/** What a `.npy` header says. */
export interface NpyHeader {
  /** Bytes from the start of the array to its data (magic, version, length, header text). */
  headerBytes: number;
  dtype: Dtype;
  byteOrder: 'little' | 'big';
  fortranOrder: boolean;
  shape: number[];
  /** Bytes of data the header implies. */
  dataBytes: number;
}

type Literal = string | number | boolean | null | Literal[] | { [key: string]: Literal };

const DTYPES_BY_KIND: Record<string, Dtype> = {
  f2: 'F16',
  f4: 'F32',
  f8: 'F64',
  i1: 'I8',
  i2: 'I16',
  i4: 'I32',
  i8: 'I64',
  u1: 'U8',
  u2: 'U16',
  u4: 'U32',
  u8: 'U64',
  b1: 'BOOL',
};

/** Parses the Python-literal subset numpy writes (`{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`). */
function parseLiteral(text: string, fail: (why: string) => never): Literal {
  let p = 0;
  const ws = (): void => {
    while (p < text.length && (text[p] === ' ' || text[p] === '\t' || text[p] === '\n' || text[p] === '\r')) p++;
  };
  const value = (depth: number): Literal => {
    if (depth > MAX_LITERAL_DEPTH) fail(`nests deeper than ${MAX_LITERAL_DEPTH}`);
    ws();
    const c = text[p];
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, p + 1);
      if (end < 0) fail('has an unterminated string');
      const s = text.slice(p + 1, end);
      if (s.includes('\\')) fail('has a string with an escape');
      p = end + 1;
      return s;
    }
    if (c === '(' || c === '[') {
      const close = c === '(' ? ')' : ']';
      p++;
      const items: Literal[] = [];
      for (;;) {
        ws();
        if (text[p] === close) {
          p++;
          return items;
        }
        items.push(value(depth + 1));
        ws();
        if (text[p] === ',') p++;
        else if (text[p] !== close) fail(`expects "," or "${close}" at character ${p}`);
      }
    }
    if (c === '{') {
      p++;
      const dict: { [key: string]: Literal } = Object.create(null);
      for (;;) {
        ws();
        if (text[p] === '}') {
          p++;
          return dict;
        }
        const key = value(depth + 1);
        if (typeof key !== 'string') fail('has a dict key that is not a string');
        if (Object.hasOwn(dict, key)) fail(`has the key ${quoteName(key)} twice`);
        ws();
        if (text[p] !== ':') fail(`expects ":" at character ${p}`);
        p++;
        dict[key] = value(depth + 1);
        ws();
        if (text[p] === ',') p++;
        else if (text[p] !== '}') fail(`expects "," or "}" at character ${p}`);
      }
    }
    const m = /^(?:True|False|None|-?\d{1,20}L?)/.exec(text.slice(p, p + 24));
    if (!m) fail(`has an unexpected ${c === undefined ? 'end' : quoteName(c)} at character ${p}`);
    p += m[0].length;
    if (m[0] === 'True') return true;
    if (m[0] === 'False') return false;
    if (m[0] === 'None') return null;
    const n = Number(m[0].replace('L', ''));
    if (!Number.isSafeInteger(n)) fail(`has the integer ${m[0]}, beyond 2^53 - 1`);
    return n;
  };
  const v = value(0);
  ws();
  if (p !== text.length) fail(`has ${quoteName(text.slice(p, p + 20))} after the dict`);
  return v;
}

/** The Weft dtype and byte order of a numpy `descr` string; throws for object, string, complex, … dtypes. */
function resolveDescr(descr: Literal, fileName: string, array: string): { dtype: Dtype; byteOrder: 'little' | 'big' } {
  const where = `${fileName}: ${array}`;
  if (typeof descr !== 'string') {
    throw new FormatError(
      'FORMAT_BAD_DTYPE',
      `${where} has the structured dtype ${describeValue(descr)}; only plain numeric dtypes are supported`,
      { file: fileName },
    );
  }
  const m = /^([<>|=]?)([a-zA-Z])(\d*)$/.exec(descr);
  if (m && (m[2] === 'O' || descr === '|O' || descr === 'O')) {
    throw new FormatError(
      'FORMAT_UNSAFE',
      `${where} has the object dtype ${quoteName(descr)}, whose values are pickled Python objects; it is not loaded`,
      { file: fileName },
    );
  }
  const dtype = m ? DTYPES_BY_KIND[`${m[2]}${m[3]}`] : undefined;
  if (!m || dtype === undefined) {
    throw new FormatError(
      'FORMAT_BAD_DTYPE',
      `${where} has the dtype ${quoteName(descr)}; supported: f2 f4 f8 i1–i8 u1–u8 b1`,
      { file: fileName },
    );
  }
  return { dtype, byteOrder: m[1] === '>' && m[3] !== '1' ? 'big' : 'little' };
}

/**
 * The length of a `.npy` header (magic, version, length field and text) from its first 12 bytes (10 suffice for
 * version 1), after checking the magic, the version and MAX_NPY_HEADER_BYTES. `available` is the array's size.
 *
 * @example
 * const headerBytes = resolveNpyHeaderLength(first12, { fileName: 'a.npy', array: 'array', available: size });
 */
export function resolveNpyHeaderLength(
  bytes: Uint8Array,
  options: { fileName: string; array: string; available: number },
): number {
  const { fileName, array, available } = options;
  const where = `${fileName}: ${array}`;
  const have = Math.min(bytes.length, available);
  if (have < NPY_PREFIX_BYTES) {
    throw new FormatError(
      'FORMAT_TRUNCATED',
      `${where} has ${available} bytes, fewer than the ${NPY_PREFIX_BYTES}-byte .npy prefix`,
      { file: fileName },
    );
  }
  for (let i = 0; i < NPY_MAGIC.length; i++) {
    if (bytes[i] !== NPY_MAGIC[i]) {
      throw new FormatError('FORMAT_BAD_HEADER', `${where} does not start with the .npy magic "\\x93NUMPY"`, {
        file: fileName,
      });
    }
  }
  const major = bytes[6]!;
  if (major < 1 || major > 3) {
    throw new FormatError('FORMAT_UNSUPPORTED', `${where} is .npy version ${major}.${bytes[7]}; supported: 1, 2, 3`, {
      file: fileName,
    });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (major > 1 && have < NPY_PREFIX_BYTES + 2) {
    throw new FormatError('FORMAT_TRUNCATED', `${where} ends inside its 4-byte header length`, { file: fileName });
  }
  const textLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  if (textLength > MAX_NPY_HEADER_BYTES) {
    throw new FormatError(
      'FORMAT_LIMIT',
      `${where} has a header of ${textLength} bytes, over the limit of ${MAX_NPY_HEADER_BYTES}`,
      { file: fileName },
    );
  }
  const headerBytes = (major === 1 ? NPY_PREFIX_BYTES : NPY_PREFIX_BYTES + 2) + textLength;
  if (headerBytes > available) {
    throw new FormatError(
      'FORMAT_TRUNCATED',
      `${where} has a header ending at byte ${headerBytes} but only ${available} bytes`,
      { file: fileName },
    );
  }
  return headerBytes;
}

/**
 * Parses a whole `.npy` header: `bytes` must hold at least `resolveNpyHeaderLength` bytes. `available` is how many
 * bytes the array has in all; the data size is not checked against it (callers do, with their own names).
 *
 * @example
 * const header = parseNpyHeader(headerBytes, { fileName: 'a.npy', array: 'array', available: file.length });
 */
export function parseNpyHeader(
  bytes: Uint8Array,
  options: { fileName: string; array: string; available: number },
): NpyHeader {
  const { fileName, array } = options;
  const where = `${fileName}: ${array}`;
  const headerBytes = resolveNpyHeaderLength(bytes, options);
  if (headerBytes > bytes.length)
    throw new RangeError(`parseNpyHeader needs ${headerBytes} bytes, got ${bytes.length}`);
  const major = bytes[6]!;
  const lengthBytes = major === 1 ? 2 : 4;
  const raw = bytes.subarray(8 + lengthBytes, headerBytes);
  let text: string;
  try {
    text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1', { fatal: true }).decode(raw);
  } catch {
    throw new FormatError('FORMAT_BAD_HEADER', `${where} has a header that is not valid UTF-8`, { file: fileName });
  }
  const fail = (why: string): never => {
    throw new FormatError('FORMAT_BAD_HEADER', `${where} header ${why}`, { file: fileName });
  };
  const dict = parseLiteral(text, fail);
  if (typeof dict !== 'object' || dict === null || Array.isArray(dict)) fail('is not a dict');
  const d = dict as { [key: string]: Literal };
  const keys = Object.keys(d).sort();
  if (keys.join(',') !== 'descr,fortran_order,shape') {
    fail(`has the keys ${describeValue(keys)}; expected descr, fortran_order and shape`);
  }
  const { dtype, byteOrder } = resolveDescr(d.descr!, fileName, array);
  if (typeof d.fortran_order !== 'boolean') fail(`has fortran_order ${describeValue(d.fortran_order)}, not a boolean`);
  const shape = d.shape;
  if (!Array.isArray(shape) || shape.length > MAX_NPY_DIMS) {
    throw new FormatError(
      'FORMAT_BAD_SHAPE',
      `${where} has the shape ${describeValue(shape)}; expected a tuple of at most ${MAX_NPY_DIMS} non-negative integers`,
      { file: fileName },
    );
  }
  const dims = shape as number[];
  const dataBytes = byteSizeOf(dtype, dims, { file: fileName, tensor: array });
  return { headerBytes, dtype, byteOrder, fortranOrder: d.fortran_order as boolean, shape: dims, dataBytes };
}

/**
 * Element strides of a Fortran-order (column-major) array of `shape`: the first index varies fastest.
 *
 * @example columnMajorStrides([2, 3]) // [1, 2]
 */
export function columnMajorStrides(shape: readonly number[]): number[] {
  return rowMajorStrides([...shape].reverse()).reverse();
}
