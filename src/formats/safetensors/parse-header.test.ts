// Tests of the safetensors parser: one test per error code with the smallest bad input, then valid corners.
// Fixtures are built by hand (test-support/hand-built.ts), never with our writer.

import { describe, expect, it } from 'vitest';
import { FormatError, type FormatErrorCode } from '../../errors.js';
import { type ByteSource, bytesSource } from '../format-module.js';
import { MAX_SAFETENSORS_HEADER_BYTES, MAX_SAFETENSORS_TENSORS, parseSafetensorsHeader } from './parse-header.js';
import { parseSafetensors } from './safetensors-module.js';
import { handBuilt } from './test-support/hand-built.js';

const FILE = 't.safetensors';

function parse(bytes: Uint8Array) {
  return parseSafetensors(bytesSource(bytes), { fileName: FILE });
}

async function expectFormatError(bytes: Uint8Array, code: FormatErrorCode, message: RegExp): Promise<FormatError> {
  const error = await parse(bytes).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(FormatError);
  const formatError = error as FormatError;
  expect(formatError.code).toBe(code);
  expect(formatError.message.startsWith(`${FILE}: `)).toBe(true);
  expect(formatError.message).toMatch(message);
  expect(formatError.message).not.toMatch(/\n/);
  expect(formatError.file).toBe(FILE);
  return formatError;
}

/** A header with one tensor entry whose JSON body is given. */
function oneTensor(entry: string, data = 0): Uint8Array {
  return handBuilt(`{"w":${entry}}`, { data });
}

describe('parseSafetensors: one test per error code', () => {
  it('FORMAT_TRUNCATED: file shorter than the length prefix', async () => {
    await expectFormatError(
      new Uint8Array(7),
      'FORMAT_TRUNCATED',
      /file has 7 bytes, fewer than the 8-byte header length/,
    );
  });

  it('FORMAT_TRUNCATED: header longer than the file', async () => {
    await expectFormatError(
      handBuilt('{}', { declaredLength: 3n }),
      'FORMAT_TRUNCATED',
      /header of 3 bytes ends at byte 11 but the file has 10 bytes/,
    );
  });

  it('FORMAT_TRUNCATED: data shorter than the offsets say', async () => {
    const e = await expectFormatError(
      oneTensor('{"dtype":"U8","shape":[2],"data_offsets":[0,2]}', 1),
      'FORMAT_TRUNCATED',
      /^t\.safetensors: tensor "w" ends at byte 63 but the file has 62 bytes$/,
    );
    expect(e.tensor).toBe('w');
  });

  it('FORMAT_TRAILING_BYTES: a byte after the data', async () => {
    await expectFormatError(
      handBuilt('{}', { data: 1 }),
      'FORMAT_TRAILING_BYTES',
      /data ends at byte 10 but the file has 11 bytes \(1 trailing byte\)/,
    );
  });

  it('FORMAT_LIMIT: header length over the limit, checked before anything is read', async () => {
    await expectFormatError(
      handBuilt('{}', { declaredLength: BigInt(MAX_SAFETENSORS_HEADER_BYTES + 1) }),
      'FORMAT_LIMIT',
      /header length 100000001 bytes exceeds the limit of 100000000 bytes/,
    );
    await expectFormatError(
      handBuilt('{}', { declaredLength: 2n ** 64n - 1n }),
      'FORMAT_LIMIT',
      /header length 18446744073709551615 bytes/,
    );
  });

  it('FORMAT_LIMIT: more tensors than the limit', async () => {
    const keys = Array.from({ length: MAX_SAFETENSORS_TENSORS + 1 }, (_, i) => `"${i}":0`);
    await expectFormatError(
      handBuilt(`{${keys.join(',')}}`),
      'FORMAT_LIMIT',
      /header declares 1000001 tensors, over the limit of 1000000/,
    );
  });

  it.each([
    ['empty header', handBuilt(''), /header is empty/],
    ['leading space', handBuilt(' {}'), /header must start with '\{' but starts with byte 0x20/],
    ['invalid UTF-8', handBuilt(Uint8Array.of(0x7b, 0x22, 0xff, 0x22, 0x3a, 0x30, 0x7d)), /header is not valid UTF-8/],
    ['not JSON', handBuilt('{nope}'), /header is not valid JSON \(/],
    ['NUL padding', handBuilt('{}\0'), /header is not valid JSON/],
    ['duplicate tensor', handBuilt('{"w":1,"w":2}'), /header has the key "w" twice/],
    [
      'duplicate field, spelled differently',
      oneTensor('{"dtype":"U8","d\\u0074ype":"I8","shape":[],"data_offsets":[0,1]}', 1),
      /header has the key "dtype" twice/,
    ],
    [
      'metadata not an object',
      handBuilt('{"__metadata__":["a"]}'),
      /"__metadata__" is \["a"\], not an object of strings/,
    ],
    ['metadata null', handBuilt('{"__metadata__":null}'), /"__metadata__" is null/],
    ['metadata value not a string', handBuilt('{"__metadata__":{"k":1}}'), /"__metadata__" key "k" is 1, not a string/],
    ['tensor not an object', handBuilt('{"w":[]}'), /tensor "w" is \[\], not an object/],
    ['lone surrogate in a name', handBuilt('{"\\ud800":{}}'), /unpaired UTF-16 surrogate/],
  ])('FORMAT_BAD_HEADER: %s', async (_, bytes, message) => {
    await expectFormatError(bytes, 'FORMAT_BAD_HEADER', message);
  });

  it('FORMAT_BAD_HEADER: control characters in names are escaped in the message', async () => {
    const e = await expectFormatError(
      handBuilt('{"\\u001b[31m\\n":[]}'),
      'FORMAT_BAD_HEADER',
      /tensor "\\u001b\[31m\\n"/,
    );
    expect(e.message).not.toMatch(/[\u0000-\u001f]/);
  });

  it.each([
    [
      'unknown dtype',
      '{"dtype":"F33","shape":[1],"data_offsets":[0,4]}',
      /tensor "w" has unknown dtype "F33" \(known: F64, F32/,
    ],
    ['missing dtype', '{"shape":[1],"data_offsets":[0,4]}', /tensor "w" has unknown dtype nothing/],
    ['lower-case dtype', '{"dtype":"f32","shape":[1],"data_offsets":[0,4]}', /unknown dtype "f32"/],
  ])('FORMAT_BAD_DTYPE: %s', async (_, entry, message) => {
    await expectFormatError(oneTensor(entry, 4), 'FORMAT_BAD_DTYPE', message);
  });

  it.each([
    ['not an array', '{"dtype":"U8","shape":4,"data_offsets":[0,4]}', /tensor "w" shape is 4, not an array/],
    ['missing', '{"dtype":"U8","data_offsets":[0,4]}', /tensor "w" shape is nothing/],
    ['negative', '{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}', /shape \[-1\] has the dimension -1/],
    ['fractional', '{"dtype":"U8","shape":[1.5],"data_offsets":[0,0]}', /has the dimension 1\.5/],
    ['a string', '{"dtype":"U8","shape":["2"],"data_offsets":[0,2]}', /has the dimension "2"/],
    [
      'beyond 2^53',
      '{"dtype":"U8","shape":[9007199254740992],"data_offsets":[0,0]}',
      /has the dimension 9007199254740992/,
    ],
    [
      'product overflows',
      '{"dtype":"U8","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}',
      /shape \[4294967296,4294967296,0\] has more than 9007199254740991 elements/,
    ],
    [
      'byte size overflows',
      '{"dtype":"F64","shape":[2251799813685248],"data_offsets":[0,0]}',
      /shape \[2251799813685248\] of F64 is more than 9007199254740991 bytes/,
    ],
  ])('FORMAT_BAD_SHAPE: %s', async (_, entry, message) => {
    await expectFormatError(oneTensor(entry), 'FORMAT_BAD_SHAPE', message);
  });

  it.each([
    [
      'negative',
      oneTensor('{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}'),
      /tensor "w" data_offsets \[-1,0\] are not/,
    ],
    ['missing', oneTensor('{"dtype":"U8","shape":[1]}'), /data_offsets nothing are not/],
    ['three numbers', oneTensor('{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}'), /data_offsets \[0,1,2\] are not/],
    [
      'beyond 2^53',
      oneTensor('{"dtype":"U8","shape":[0],"data_offsets":[9007199254740992,9007199254740992]}'),
      /are not \[begin, end\] with integers from 0 to 9007199254740991/,
    ],
    [
      'end before begin',
      oneTensor('{"dtype":"U8","shape":[0],"data_offsets":[1,0]}'),
      /data_offsets \[1,0\] end before they begin/,
    ],
    [
      'size differs from shape',
      oneTensor('{"dtype":"F32","shape":[3,3],"data_offsets":[0,32]}', 32),
      /tensor "w" shape \[3,3\] of F32 says 36 bytes but data_offsets \[0,32\] say 32/,
    ],
    [
      'first tensor not at 0',
      oneTensor('{"dtype":"U8","shape":[1],"data_offsets":[1,2]}', 2),
      /tensor "w" data_offsets \[1,2\]: the first tensor must start at data offset 0/,
    ],
    [
      'gap',
      handBuilt(
        '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}}',
        { data: 3 },
      ),
      /tensor "b" data_offsets \[2,3\] leaves a gap of 1 bytes after tensor "a" data_offsets \[0,1\]/,
    ],
    [
      'overlap',
      handBuilt(
        '{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}',
        { data: 2 },
      ),
      /tensor "b" data_offsets \[1,2\] overlaps tensor "a" data_offsets \[0,2\]/,
    ],
    [
      'empty tensor inside another',
      handBuilt(
        '{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"e":{"dtype":"U8","shape":[0],"data_offsets":[1,1]}}',
        { data: 2 },
      ),
      /tensor "e" data_offsets \[1,1\] overlaps tensor "a"/,
    ],
  ])('FORMAT_BAD_OFFSETS: %s', async (_, bytes, message) => {
    await expectFormatError(bytes, 'FORMAT_BAD_OFFSETS', message);
  });
});

describe('parseSafetensors: valid files', () => {
  it('lists extents in file order with absolute offsets, one view per extent, and keeps the metadata', async () => {
    const header =
      '{"z":{"dtype":"U8","shape":[3],"data_offsets":[20,23]},"__metadata__":{"b":"2","a":"1"},' +
      '"empty":{"dtype":"F64","shape":[0,5],"data_offsets":[16,16]},"a":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},' +
      '"s":{"dtype":"F32","shape":[],"data_offsets":[16,20]}}';
    const bytes = handBuilt(header, { data: 23 });
    const start = 8 + header.length;
    const checkpoint = await parse(bytes);
    expect(checkpoint).toEqual({
      format: 'safetensors',
      metadata: { b: '2', a: '1' },
      sizeBytes: start + 23,
      extents: [
        { name: 'a', dtype: 'I64', shape: [2], offsetBytes: start, sizeBytes: 16 },
        { name: 'empty', dtype: 'F64', shape: [0, 5], offsetBytes: start + 16, sizeBytes: 0 },
        { name: 's', dtype: 'F32', shape: [], offsetBytes: start + 16, sizeBytes: 4 },
        { name: 'z', dtype: 'U8', shape: [3], offsetBytes: start + 20, sizeBytes: 3 },
      ],
      tensors: [
        { name: 'a', dtype: 'I64', shape: [2], extent: 0 },
        { name: 'empty', dtype: 'F64', shape: [0, 5], extent: 1 },
        { name: 's', dtype: 'F32', shape: [], extent: 2 },
        { name: 'z', dtype: 'U8', shape: [3], extent: 3 },
      ],
    });
  });

  it('accepts the smallest file, `{}`, with no metadata', async () => {
    const checkpoint = await parse(handBuilt('{}'));
    expect(checkpoint).toEqual({ format: 'safetensors', metadata: {}, extents: [], tensors: [], sizeBytes: 10 });
  });

  it('ignores unknown keys in a tensor entry and keeps "__proto__" as data', async () => {
    const checkpoint = await parse(
      handBuilt(
        '{"__metadata__":{"__proto__":"x"},"__proto__":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"note":{"a":[1]}}}',
        { data: 1 },
      ),
    );
    expect(Object.keys(checkpoint.metadata)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(checkpoint.metadata)).toBe(Object.prototype);
    expect(checkpoint.extents.map((e) => e.name)).toEqual(['__proto__']);
  });

  it('keeps the header order for empty tensors at one offset', async () => {
    const a = await parse(
      handBuilt(
        '{"y":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"x":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}',
      ),
    );
    expect(a.extents.map((e) => e.name)).toEqual(['y', 'x']);
    const b = await parse(
      handBuilt(
        '{"10":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"9":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}',
      ),
    );
    expect(b.extents.map((e) => e.name)).toEqual(['10', '9']);
  });

  it('parses a file over 4 GiB (offsets beyond 2^32)', async () => {
    const elements = 5 * 2 ** 30;
    const header = new TextEncoder().encode(
      `{"big":{"dtype":"U8","shape":[${elements}],"data_offsets":[0,${elements}]},"tail":{"dtype":"F32","shape":[1],"data_offsets":[${elements},${elements + 4}]}}`,
    );
    const prefix = new Uint8Array(8 + header.length);
    new DataView(prefix.buffer).setBigUint64(0, BigInt(header.length), true);
    prefix.set(header, 8);
    // A virtual file: the real header, then data that is never read.
    const source: ByteSource = {
      sizeBytes: prefix.length + elements + 4,
      read(offsetBytes, lengthBytes) {
        if (offsetBytes + lengthBytes > prefix.length) return Promise.reject(new RangeError('data must not be read'));
        return Promise.resolve(prefix.subarray(offsetBytes, offsetBytes + lengthBytes));
      },
    };
    const checkpoint = await parseSafetensors(source, { fileName: FILE });
    expect(checkpoint.extents.map((e) => [e.name, e.offsetBytes, e.sizeBytes])).toEqual([
      ['big', prefix.length, elements],
      ['tail', prefix.length + elements, 4],
    ]);
    expect(checkpoint.sizeBytes).toBeGreaterThan(2 ** 32);
  });
});

describe('parseSafetensorsHeader', () => {
  it('checks the header against the file size it is given', () => {
    const header = new TextEncoder().encode('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}');
    const checkpoint = parseSafetensorsHeader(header, { fileName: FILE, fileSizeBytes: 8 + header.length + 8 });
    expect(checkpoint.extents).toEqual([{ name: 'w', dtype: 'F32', shape: [2], offsetBytes: 62, sizeBytes: 8 }]);
    expect(() => parseSafetensorsHeader(header, { fileName: FILE, fileSizeBytes: 20 })).toThrow(
      /^t\.safetensors: header of 54 bytes ends at byte 62 but the file has 20 bytes$/,
    );
  });
});
