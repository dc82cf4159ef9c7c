// Tests of the safetensors writer: fixed expected bytes, byte-identical headers of files Hugging Face wrote, bad
// input, and round-trip properties through the parser.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { listFixtures, readFixture } from '../../../test/support/fixtures.js';
import { FormatError } from '../../errors.js';
import { DTYPES, type Dtype, dtypeSize } from '../../tensor/dtype.js';
import { bytesSource } from '../format-module.js';
import { parseSafetensors } from './safetensors-module.js';
import { compareCodePoints, encodeSafetensorsHeader, type SafetensorsTensorSpec } from './write-safetensors.js';

/** Expected header bytes spelled out: the u64 length, then the JSON text, then `pad` spaces. */
function expectedHeader(json: string, pad: number): Uint8Array {
  const text = new TextEncoder().encode(json + ' '.repeat(pad));
  const out = new Uint8Array(8 + text.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  return out;
}

function spec(name: string, dtype: Dtype, shape: number[]): SafetensorsTensorSpec {
  return { name, dtype, shape, sizeBytes: shape.reduce((a, b) => a * b, 1) * dtypeSize(dtype) };
}

describe('encodeSafetensorsHeader: fixed expected bytes', () => {
  // The first four are the byte strings the reference library's own tests pin (safetensors/src/tensor.rs).
  it('one tensor whose header is already a multiple of 8', () => {
    const layout = encodeSafetensorsHeader([spec('attn.0', 'F32', [1, 2, 3])]);
    expect(layout.headerBytes).toEqual(
      expectedHeader('{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}', 0),
    );
    expect(layout.headerBytes.subarray(0, 8)).toEqual(Uint8Array.of(64, 0, 0, 0, 0, 0, 0, 0));
    expect(layout.sizeBytes).toBe(72 + 24);
  });

  it('one tensor padded with 7 spaces', () => {
    const layout = encodeSafetensorsHeader([spec('attn0', 'F32', [1, 1, 2, 3])]);
    expect(layout.headerBytes).toEqual(
      expectedHeader('{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}', 7),
    );
  });

  it('no tensors', () => {
    expect(encodeSafetensorsHeader([]).headerBytes).toEqual(expectedHeader('{}', 6));
  });

  it('metadata only', () => {
    expect(encodeSafetensorsHeader([], { framework: 'pt' }).headerBytes).toEqual(
      expectedHeader('{"__metadata__":{"framework":"pt"}}', 5),
    );
    expect(encodeSafetensorsHeader([], {}).headerBytes).toEqual(expectedHeader('{"__metadata__":{}}', 5));
  });

  it('orders by dtype alignment (the reference enum order) then name, metadata first with sorted keys', () => {
    const layout = encodeSafetensorsHeader(
      [
        spec('u', 'U8', [3]),
        spec('e', 'F32', [0]),
        spec('b', 'F32', [2]),
        spec('a', 'I32', [1]),
        spec('g', 'F16', [1]),
        spec('h', 'BF16', [2]),
        spec('d', 'F64', [1]),
      ],
      { z: 'last', a: 'first' },
    );
    const json =
      '{"__metadata__":{"a":"first","z":"last"},' +
      '"d":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},' +
      '"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},' +
      '"e":{"dtype":"F32","shape":[0],"data_offsets":[16,16]},' +
      '"a":{"dtype":"I32","shape":[1],"data_offsets":[16,20]},' +
      '"h":{"dtype":"BF16","shape":[2],"data_offsets":[20,24]},' +
      '"g":{"dtype":"F16","shape":[1],"data_offsets":[24,26]},' +
      '"u":{"dtype":"U8","shape":[3],"data_offsets":[26,29]}}';
    expect(layout.headerBytes).toEqual(expectedHeader(json, 1));
    expect(layout.order).toEqual(['d', 'b', 'e', 'a', 'h', 'g', 'u']);
    expect(layout.extents.map((e) => [e.name, e.offsetBytes, e.sizeBytes])).toEqual([
      ['d', 432, 8],
      ['b', 440, 8],
      ['e', 448, 0],
      ['a', 448, 4],
      ['h', 452, 4],
      ['g', 456, 2],
      ['u', 458, 3],
    ]);
    expect(layout.sizeBytes).toBe(461);
  });

  it('sorts names by code point (UTF-8 byte order) and escapes them as JSON', () => {
    const layout = encodeSafetensorsHeader([spec('😀', 'U8', [1]), spec('\uffff', 'U8', [1]), spec('a\nb', 'U8', [1])]);
    expect(layout.order).toEqual(['a\nb', '\uffff', '😀']);
    expect(layout.headerBytes).toEqual(
      expectedHeader(
        '{"a\\nb":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},' +
          '"\uffff":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},' +
          '"😀":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}}',
        3,
      ),
    );
  });
});

describe('encodeSafetensorsHeader: reproduces files written by Hugging Face safetensors', () => {
  const files = [
    ...listFixtures('digits', '.safetensors').map((name) => `digits/${name}`),
    'digits/lora_low/adapter_model.safetensors',
    'interop/hand_written.safetensors',
    'corrupt/good.safetensors',
  ];
  it.each(files)('%s: same header bytes from its tensor table, given in reverse', async (path) => {
    const bytes = readFixture(path);
    const checkpoint = await parseSafetensors(bytesSource(bytes), { fileName: path });
    const specs = checkpoint.extents.map((e) => ({
      name: e.name,
      dtype: e.dtype,
      shape: e.shape,
      sizeBytes: e.sizeBytes,
    }));
    const metadata = Object.keys(checkpoint.metadata).length > 0 ? checkpoint.metadata : undefined;
    const layout = encodeSafetensorsHeader(specs.reverse(), metadata);
    const headerEnd = checkpoint.extents[0]?.offsetBytes ?? bytes.length;
    expect(layout.headerBytes).toEqual(bytes.subarray(0, headerEnd));
    expect(layout.extents).toEqual(checkpoint.extents);
    expect(layout.sizeBytes).toBe(bytes.length);
  });
});

describe('encodeSafetensorsHeader: refuses bad input', () => {
  it.each([
    ['a repeated name', [spec('w', 'U8', [1]), spec('w', 'U8', [2])], 'FORMAT_BAD_HEADER', /tensor "w" is given twice/],
    ['the metadata key as a name', [spec('__metadata__', 'U8', [1])], 'FORMAT_BAD_HEADER', /reserved for metadata/],
    ['an unknown dtype', [{ name: 'w', dtype: 'F33' as Dtype, shape: [1], sizeBytes: 4 }], 'FORMAT_BAD_DTYPE', /"F33"/],
    [
      'a negative dimension',
      [{ name: 'w', dtype: 'U8' as Dtype, shape: [-1], sizeBytes: 0 }],
      'FORMAT_BAD_SHAPE',
      /-1/,
    ],
    [
      'a size that disagrees with the shape',
      [{ name: 'w', dtype: 'F32' as Dtype, shape: [3], sizeBytes: 8 }],
      'FORMAT_BAD_OFFSETS',
      /shape \[3\] of F32 says 12 bytes but sizeBytes is 8/,
    ],
  ] as const)('%s', (_, specs, code, message) => {
    let error: unknown;
    try {
      encodeSafetensorsHeader(specs);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(FormatError);
    expect((error as FormatError).code).toBe(code);
    expect((error as FormatError).message).toMatch(/^safetensors writer: /);
    expect((error as FormatError).message).toMatch(message);
  });
});

describe('encodeSafetensorsHeader: properties', () => {
  const tensorSpec = fc.record({
    // Integer-like names too: a JS object lists those first, whatever order the header has.
    name: fc.oneof(fc.string({ unit: 'grapheme', maxLength: 6 }), fc.nat(20).map(String)),
    dtype: fc.constantFrom(...DTYPES),
    shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
  });
  const tensorList = fc.uniqueArray(tensorSpec, { selector: (t) => t.name, maxLength: 8 });
  const metadataArb = fc.option(fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 6 })), {
    nil: undefined,
  });

  it('lays out a file that parses back to the same extents, whatever the input order', async () => {
    await fc.assert(
      fc.asyncProperty(tensorList, metadataArb, async (list, metadata) => {
        const specs = list.filter((t) => t.name !== '__metadata__').map((t) => spec(t.name, t.dtype, t.shape));
        const layout = encodeSafetensorsHeader(specs, metadata);
        expect((layout.headerBytes.length - 8) % 8).toBe(0);
        expect(encodeSafetensorsHeader(specs.slice().reverse(), metadata)).toEqual(layout);
        const file = new Uint8Array(layout.sizeBytes);
        file.set(layout.headerBytes);
        const checkpoint = await parseSafetensors(bytesSource(file), { fileName: 'w.safetensors' });
        expect(checkpoint.extents).toEqual(layout.extents);
        expect(checkpoint.metadata).toEqual(metadata ?? {});
        // Every tensor starts aligned to its element size, as the reference layout promises.
        for (const e of layout.extents)
          expect((e.offsetBytes - layout.headerBytes.length) % dtypeSize(e.dtype)).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('compareCodePoints agrees with UTF-8 byte order', () => {
    const encoder = new TextEncoder();
    const byteOrder = (a: string, b: string) =>
      Buffer.compare(Buffer.from(encoder.encode(a)), Buffer.from(encoder.encode(b)));
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (a, b) => {
        expect(Math.sign(compareCodePoints(a, b))).toBe(byteOrder(a, b));
      }),
    );
  });
});
