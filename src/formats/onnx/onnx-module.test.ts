// Unit tests of the ONNX parser: which tensors become extents and under what names, metadata, detection, and one
// test per error code with small lying messages.

import { describe, expect, it } from 'vitest';
import { FormatError } from '../../errors.js';
import { bytesSource } from '../format-module.js';
import { detectOnnx, MAX_ONNX_DEPTH, MAX_ONNX_DIMS, parseOnnx } from './onnx-module.js';
import { buildOnnx, concat, counting, lField, tensorProto, varint, vField } from './test-support/build-onnx.js';
import { ONNX_VALID } from './test-support/hand-built.js';

const parse = (bytes: Uint8Array) => parseOnnx(bytesSource(bytes), { fileName: 'm.onnx' });
const valid = (name: string) => ONNX_VALID.find((f) => f.name === name)!.bytes;

async function codeOf(bytes: Uint8Array): Promise<string> {
  try {
    await parse(bytes);
  } catch (e) {
    if (e instanceof FormatError) {
      expect(e.message.startsWith('m.onnx: ')).toBe(true);
      return e.code;
    }
    throw e;
  }
  return 'ok';
}

describe('parseOnnx', () => {
  it('makes raw_data of initializers extents with the ONNX dtype and dims', async () => {
    const cp = await parse(valid('initializers.onnx'));
    expect(cp.tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual([
      ['w', 'F32', [2, 3]],
      ['b', 'F16', [3]],
      ['scalar', 'I64', []],
      ['empty', 'F32', [0, 4]],
    ]);
    expect(cp.metadata).toEqual({
      'onnx.ir_version': '8',
      'onnx.producer_name': 'weft-test',
      'onnx.opset_import': 'ai.onnx:13',
    });
    const w = cp.extents[0]!;
    const bytes = valid('initializers.onnx');
    expect(new DataView(bytes.buffer, w.offsetBytes, 24).getFloat32(20, true)).toBe(6);
  });

  it('packed float/double data are extents, varint ints stay in the frame, odd types are opaque U8', async () => {
    const cp = await parse(valid('typed-fields.onnx'));
    expect(cp.tensors).toEqual([
      { name: 'floats', dtype: 'F32', shape: [4], extent: 0 },
      { name: 'doubles', dtype: 'F64', shape: [1, 2], extent: 1 },
      { name: 'fnuz', dtype: 'U8', shape: [4], extent: 2, storedType: 'FLOAT8E4M3FNUZ', storedShape: [4] },
      { name: 'bf', dtype: 'BF16', shape: [2], extent: 3 },
    ]);
  });

  it('names Constant tensors after their node output, lists external tensors in metadata, de-duplicates names', async () => {
    const cp = await parse(valid('constants-and-external.onnx'));
    expect(cp.tensors.map((t) => t.name)).toEqual(['const_w', 'own', 'own#2']);
    expect(cp.metadata['onnx.external_data']).toBe('"big.bin": 1 tensors, 4096 bytes');
  });

  it('notes a huge or non-UTF-8 producer name by size instead of failing', async () => {
    const cp = await parse(buildOnnx({ producer: 'p'.repeat(70_000) }));
    expect(cp.metadata['onnx.producer_name']).toBe('(70000 bytes)');
  });

  it('detects real-looking models and refuses near misses', () => {
    for (const f of ONNX_VALID) expect(detectOnnx(f.bytes.subarray(0, 64), f.bytes.length)).toBe(true);
    const model = valid('initializers.onnx');
    expect(detectOnnx(Uint8Array.of(0x08, 0x00, 0x3a, 0x00), 4)).toBe(false); // ir_version 0
    expect(detectOnnx(Uint8Array.of(0x08, 0x63, 0x3a, 0x00), 4)).toBe(false); // ir_version 99
    expect(detectOnnx(Uint8Array.of(0x08, 0x08, 0x48, 0x00), 4)).toBe(false); // field 9: not in ModelProto
    expect(detectOnnx(Uint8Array.of(0x08, 0x08, 0x3a, 0x7f), 10)).toBe(false); // graph longer than the file
    expect(detectOnnx(model.subarray(0, 64), 5)).toBe(false);
    expect(detectOnnx(new TextEncoder().encode('\x08hello world'), 11)).toBe(false);
  });

  describe('error codes', () => {
    it('FORMAT_TRUNCATED: a length past the end of the file', async () => {
      const bytes = valid('initializers.onnx');
      expect(await codeOf(bytes.subarray(0, bytes.length - 3))).toBe('FORMAT_TRUNCATED');
      expect(await codeOf(concat(vField(1, 8), varint(7 * 8 + 2), varint(1 << 30)))).toBe('FORMAT_TRUNCATED');
    });

    it('FORMAT_BAD_HEADER: a field past its message, a group wire type, field number 0, a varint of 11 bytes', async () => {
      const inner = concat(lField(5, 'abc', 10), new Uint8Array(10));
      expect(await codeOf(concat(vField(1, 8), lField(7, inner.subarray(0, 6)), inner.subarray(6)))).toBe(
        'FORMAT_BAD_HEADER',
      );
      expect(await codeOf(concat(vField(1, 8), Uint8Array.of(0x0b)))).toBe('FORMAT_BAD_HEADER');
      expect(await codeOf(concat(vField(1, 8), Uint8Array.of(0x02, 0x00)))).toBe('FORMAT_BAD_HEADER');
      expect(await codeOf(concat(Uint8Array.of(0x08), new Uint8Array(10).fill(0xff), Uint8Array.of(1)))).toBe(
        'FORMAT_BAD_HEADER',
      );
      expect(await codeOf(buildOnnx({ graphExtra: vField(5, 1) }))).toBe('FORMAT_BAD_HEADER'); // initializer as varint
    });

    it('FORMAT_BAD_SHAPE: raw_data size differs from the dims, negative or overflowing dims', async () => {
      const t = (dims: (number | bigint)[], raw: Uint8Array) =>
        buildOnnx({ initializers: [tensorProto({ name: 'x', dims, dataType: 1, raw })] });
      expect(await codeOf(t([3], counting(8)))).toBe('FORMAT_BAD_SHAPE');
      expect(await codeOf(t([-1], counting(4)))).toBe('FORMAT_BAD_SHAPE');
      expect(await codeOf(t([2n ** 40n, 2n ** 40n], counting(4)))).toBe('FORMAT_BAD_SHAPE');
    });

    it('FORMAT_LIMIT: too many dims, names too long, graphs nested too deep', async () => {
      const dims = Array.from({ length: MAX_ONNX_DIMS + 1 }, () => 1);
      expect(
        await codeOf(buildOnnx({ initializers: [tensorProto({ name: 'x', dims, dataType: 1, raw: counting(4) })] })),
      ).toBe('FORMAT_LIMIT');
      const long = 'n'.repeat(5000);
      expect(
        await codeOf(
          buildOnnx({ initializers: [tensorProto({ name: long, dims: [1], dataType: 1, raw: counting(4) })] }),
        ),
      ).toBe('FORMAT_LIMIT');
      // An If node whose then_branch holds a graph holding an If node … deeper than the limit.
      let graph = lField(2, 'leaf');
      for (let i = 0; i <= MAX_ONNX_DEPTH + 1; i++) {
        const attribute = concat(lField(1, 'then_branch'), lField(6, graph), vField(20, 5));
        graph = lField(1, concat(lField(4, 'If'), lField(5, attribute)));
      }
      expect(await codeOf(concat(vField(1, 8), lField(7, graph)))).toBe('FORMAT_LIMIT');
    });
  });
});
