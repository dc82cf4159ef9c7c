// Tests for shape.ts: checked element counts and byte sizes, strides, contiguity, and the messages.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../errors.js';
import { byteSizeOf, isContiguous, numelOf, rowMajorStrides } from './shape.js';

function thrown(f: () => unknown): FormatError {
  try {
    f();
  } catch (e) {
    if (e instanceof FormatError) return e;
    throw e;
  }
  throw new Error('did not throw');
}

describe('numelOf and byteSizeOf', () => {
  it('multiply dimensions; a scalar has one element; a zero dimension none', () => {
    expect(numelOf([2, 3])).toBe(6);
    expect(numelOf([])).toBe(1);
    expect(numelOf([0, 2 ** 52, 2 ** 52])).toBe(0);
    expect(byteSizeOf('BF16', [4096, 4096])).toBe(33554432);
    expect(byteSizeOf('F64', [])).toBe(8);
    expect(byteSizeOf('I64', [2 ** 49])).toBe(2 ** 52);
  });

  it('accept counts up to 2^53 - 1 and reject anything larger, without wrapping', () => {
    expect(numelOf([Number.MAX_SAFE_INTEGER])).toBe(Number.MAX_SAFE_INTEGER);
    expect(numelOf([2 ** 26, 2 ** 26 + 1])).toBe(2 ** 52 + 2 ** 26);
    const e = thrown(() => numelOf([2 ** 40, 2 ** 40]));
    expect(e.code).toBe('FORMAT_BAD_SHAPE');
    expect(() => numelOf([2 ** 27, 2 ** 26 + 1])).toThrow(/exceeds 2\^53 - 1/);
    expect(() => byteSizeOf('F32', [2 ** 51])).toThrow(FormatError);
  });

  it('agree with BigInt on random shapes', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2 ** 20 }), { maxLength: 5 }), (shape) => {
        const exact = shape.reduce((p, d) => p * BigInt(d), 4n);
        if (exact <= BigInt(Number.MAX_SAFE_INTEGER)) return BigInt(byteSizeOf('F32', shape)) === exact;
        return thrown(() => byteSizeOf('F32', shape)).code === 'FORMAT_BAD_SHAPE';
      }),
    );
  });

  it('reject negative, fractional, non-finite and non-number dimensions', () => {
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, '3' as unknown as number]) {
      expect(thrown(() => numelOf([2, bad])).code).toBe('FORMAT_BAD_SHAPE');
    }
  });

  it('name the file, tensor, shape and bad value', () => {
    const where = { file: 'model.safetensors', tensor: 'w' };
    expect(thrown(() => byteSizeOf('F32', [2 ** 40, 2 ** 40], where)).message).toBe(
      'model.safetensors: tensor "w" has shape [1099511627776,1099511627776] whose byte size exceeds 2^53 - 1',
    );
    const e = thrown(() => numelOf([3, -2], where));
    expect(e.message).toBe(
      'model.safetensors: tensor "w" has shape [3,-2] whose dimension 1 is -2; dimensions must be non-negative integers',
    );
    expect(e.file).toBe('model.safetensors');
    expect(e.tensor).toBe('w');
    expect(thrown(() => numelOf(['x' as unknown as number])).message).toMatch(/^a tensor has shape \["x"\]/);
    expect(thrown(() => numelOf(new Array(20).fill(-1))).message).toContain('… 12 more]');
  });
});

describe('rowMajorStrides and isContiguous', () => {
  it('compute row-major strides, counting zero dimensions as one', () => {
    expect(rowMajorStrides([2, 3, 4])).toEqual([12, 4, 1]);
    expect(rowMajorStrides([])).toEqual([]);
    expect(rowMajorStrides([2, 0, 3])).toEqual([3, 3, 1]);
  });

  it('recognise contiguous views as PyTorch does', () => {
    expect(isContiguous([2, 3], [3, 1])).toBe(true);
    expect(isContiguous([2, 3], [1, 2])).toBe(false);
    expect(isContiguous([2, 1, 3], [3, 99, 1])).toBe(true);
    expect(isContiguous([0, 3], [7, 7])).toBe(true);
    expect(isContiguous([], [])).toBe(true);
    expect(isContiguous([4], [2])).toBe(false);
    expect(isContiguous([2, 3], [3])).toBe(false);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 4 }), (shape) =>
        isContiguous(shape, rowMajorStrides(shape)),
      ),
    );
  });
});
