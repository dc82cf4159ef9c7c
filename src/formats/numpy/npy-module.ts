// The NumPy `.npy` FormatModule: one array after a Python-literal header. A Fortran-order array is exposed as a view
// with column-major strides, a big-endian one with byteOrder 'big', so values always read in row-major order. Pure.

import { FormatError } from '../../errors.js';
import type { ByteSource, Checkpoint, FormatModule, ParseOptions, TensorExtent, TensorView } from '../format-module.js';
import {
  columnMajorStrides,
  NPY_MAGIC,
  NPY_PREFIX_BYTES,
  type NpyHeader,
  parseNpyHeader,
  resolveNpyHeaderLength,
} from './parse-npy-header.js';

/** The name of the one tensor of a `.npy` file, which names nothing itself (manifests need a non-empty name). */
export const NPY_TENSOR_NAME = 'array';

/**
 * The extent and view of one array whose data starts at `offsetBytes`. A Fortran-order extent has the reversed
 * shape (its bytes are the row-major transpose); the view reads it with column-major strides.
 *
 * @example
 * const { extent, view } = describeNpyArray(header, { name: 'w', offsetBytes: 128, extent: 0 });
 */
export function describeNpyArray(
  header: NpyHeader,
  options: { name: string; offsetBytes: number; extent: number },
): { extent: TensorExtent; view: TensorView } {
  const { name, offsetBytes, extent: index } = options;
  const extent: TensorExtent = {
    name,
    dtype: header.dtype,
    shape: header.fortranOrder ? [...header.shape].reverse() : header.shape,
    offsetBytes,
    sizeBytes: header.dataBytes,
  };
  const view: TensorView = { name, dtype: header.dtype, shape: header.shape, extent: index };
  if (header.fortranOrder && header.shape.length > 1) view.strides = columnMajorStrides(header.shape);
  if (header.byteOrder === 'big') view.byteOrder = 'big';
  return { extent, view };
}

/**
 * True when `head` starts with the `.npy` magic and a version byte of 1, 2 or 3.
 *
 * @example
 * detectNpy(head, size); // → true for np.save('a.npy', x)
 */
export function detectNpy(head: Uint8Array, _sizeBytes: number): boolean {
  if (head.length < NPY_MAGIC.length + 1) return false;
  for (let i = 0; i < NPY_MAGIC.length; i++) if (head[i] !== NPY_MAGIC[i]) return false;
  const major = head[NPY_MAGIC.length]!;
  return major >= 1 && major <= 3;
}

/**
 * Parses a `.npy` file: the header (bounded by MAX_NPY_HEADER_BYTES before it is read), then exactly the data it
 * implies. One tensor, named `array` (the file holds a single unnamed array). Throws FormatError.
 *
 * @example
 * const checkpoint = await parseNpy(bytesSource(bytes), { fileName: 'weights.npy' });
 */
export async function parseNpy(source: ByteSource, options: ParseOptions): Promise<Checkpoint> {
  const { fileName } = options;
  const size = source.sizeBytes;
  const naming = { fileName, array: 'array', available: size };
  const prefix = await source.read(0, Math.min(size, NPY_PREFIX_BYTES + 2));
  const headerLength = resolveNpyHeaderLength(prefix, naming);
  const bytes = await source.read(0, headerLength);
  const header = parseNpyHeader(bytes, naming);
  const end = header.headerBytes + header.dataBytes;
  if (end > size) {
    throw new FormatError(
      'FORMAT_TRUNCATED',
      `${fileName}: array data ends at byte ${end} but the file has ${size} bytes`,
      { file: fileName, tensor: NPY_TENSOR_NAME },
    );
  }
  if (end < size) {
    throw new FormatError(
      'FORMAT_TRAILING_BYTES',
      `${fileName}: ${size - end} bytes after the array data, which ends at byte ${end}`,
      { file: fileName, tensor: NPY_TENSOR_NAME },
    );
  }
  const { extent, view } = describeNpyArray(header, {
    name: NPY_TENSOR_NAME,
    offsetBytes: header.headerBytes,
    extent: 0,
  });
  return {
    format: 'npy',
    metadata: { 'npy.fortran_order': header.fortranOrder ? 'True' : 'False' },
    extents: [extent],
    tensors: [view],
    sizeBytes: size,
  };
}

/** The NumPy `.npy` format: `{name: 'npy', detect, parse}`. */
export const npyModule: FormatModule = {
  name: 'npy',
  detect: detectNpy,
  parse: parseNpy,
};
