// Checked shape arithmetic: element counts and byte sizes that never exceed 2^53 - 1, row-major strides,
// contiguity. Pure: shapes come from untrusted headers, so every product is checked, never allowed to wrap.

import type { ErrorContext } from '../errors.js';
import { FormatError } from '../errors.js';
import type { Dtype } from './dtype.js';
import { dtypeSize } from './dtype.js';

/** Names the file and tensor in error messages. */
export type ShapeContext = Pick<ErrorContext, 'file' | 'tensor'>;

/** Dimensions shown in a message before the rest is elided: shapes come from untrusted input. */
const SHOWN_DIMS = 8;

/** `model.safetensors: tensor "w"`, `tensor "w"` or `a tensor`, for the start of a message. */
export function describeTensor(context: ShapeContext): string {
  const subject = context.tensor === undefined ? 'a tensor' : `tensor ${JSON.stringify(context.tensor)}`;
  return context.file === undefined ? subject : `${context.file}: ${subject}`;
}

function formatDim(d: unknown): string {
  return typeof d === 'number' ? String(d) : (JSON.stringify(d) ?? String(d));
}

/** `[2,3]` for a list of (possibly bad, possibly many) dimensions. */
export function formatDims(dims: readonly unknown[]): string {
  const shown = dims.slice(0, SHOWN_DIMS).map(formatDim);
  if (dims.length > SHOWN_DIMS) shown.push(`… ${dims.length - SHOWN_DIMS} more`);
  return `[${shown.join(',')}]`;
}

/** `factor` times the product of `shape`, each dimension and the result checked; `what` names it in errors. */
function checkedProduct(shape: readonly number[], factor: number, what: string, context: ShapeContext): number {
  let zero = false;
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new FormatError(
        'FORMAT_BAD_SHAPE',
        `${describeTensor(context)} has shape ${formatDims(shape)} whose dimension ${i} is ${formatDim(d)}; dimensions must be non-negative integers`,
        context,
      );
    }
    if (d === 0) zero = true;
  }
  if (zero) return 0;
  let p = factor;
  for (const d of shape) {
    // Both factors are safe integers, so a true product above 2^53 - 1 rounds to at least 2^53: detected.
    p *= d;
    if (p > Number.MAX_SAFE_INTEGER) {
      throw new FormatError(
        'FORMAT_BAD_SHAPE',
        `${describeTensor(context)} has shape ${formatDims(shape)} whose ${what} exceeds 2^53 - 1`,
        context,
      );
    }
  }
  return p;
}

/**
 * The number of elements of `shape` (1 for a scalar `[]`). Throws FormatError `FORMAT_BAD_SHAPE` for a
 * dimension that is not a non-negative integer, or a count above 2^53 - 1.
 *
 * @example numelOf([2, 3]) // 6
 */
export function numelOf(shape: readonly number[], context: ShapeContext = {}): number {
  return checkedProduct(shape, 1, 'element count', context);
}

/**
 * The byte size of a `dtype` tensor of `shape`, checked like `numelOf`, the size included.
 *
 * @example byteSizeOf('BF16', [4096, 4096]) // 33554432
 */
export function byteSizeOf(dtype: Dtype, shape: readonly number[], context: ShapeContext = {}): number {
  return checkedProduct(shape, dtypeSize(dtype), 'byte size', context);
}

/**
 * Element strides of a contiguous row-major tensor. As in PyTorch and NumPy, a zero dimension counts as 1, so
 * strides stay informative for empty tensors. Expects a shape `numelOf` accepts.
 *
 * @example rowMajorStrides([2, 3, 4]) // [12, 4, 1]
 */
export function rowMajorStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= Math.max(shape[i]!, 1);
  }
  return strides;
}

/**
 * True when a view with these element strides lists its elements in row-major order without gaps, as PyTorch's
 * `is_contiguous`: dimensions of size 1 may have any stride, and an empty tensor is contiguous.
 *
 * @example isContiguous([2, 3], [1, 2]) // false (column-major)
 */
export function isContiguous(shape: readonly number[], strides: readonly number[]): boolean {
  if (shape.length !== strides.length) return false;
  if (shape.includes(0)) return true;
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const d = shape[i]!;
    if (d === 1) continue;
    if (strides[i] !== expected) return false;
    expected *= d;
  }
  return true;
}
