// Tests of safetensors detection and of parsing the shared real and hostile fixture files.
// Reads ../shared/fixtures only through test-support/fixtures.ts.

import { describe, expect, it } from 'vitest';
import { listFixtures, readFixture, readFixtureJson } from '../../../test/support/fixtures.js';
import { FormatError, type FormatErrorCode } from '../../errors.js';
import { bytesSource } from '../format-module.js';
import { detectSafetensors, parseSafetensors, safetensorsModule } from './safetensors-module.js';
import { handBuilt } from './test-support/hand-built.js';

describe('detectSafetensors', () => {
  it('needs the length prefix, a header that fits the file and a `{`', () => {
    const file = handBuilt('{}');
    expect(detectSafetensors(file, file.length)).toBe(true);
    expect(detectSafetensors(file.subarray(0, 8), file.length)).toBe(false);
    expect(detectSafetensors(file, file.length - 1)).toBe(false);
    expect(detectSafetensors(handBuilt('[]'), 10)).toBe(false);
    expect(detectSafetensors(handBuilt('{', {}), 9)).toBe(false);
    expect(detectSafetensors(new TextEncoder().encode('GGUF\u0003\u0000\u0000\u0000{'), 1000)).toBe(false);
  });

  it('still claims a file whose header is over the limit, so parse can say so', () => {
    const head = handBuilt('{}', { declaredLength: 200_000_000n });
    expect(detectSafetensors(head, 300_000_000)).toBe(true);
  });
});

describe('the shared fixtures', () => {
  const expected = readFixtureJson('digits/expected.json') as {
    files: Record<string, { tensors: Record<string, { dtype: string; shape: number[] }> }>;
  };
  const digits = [
    ...listFixtures('digits', '.safetensors').map((name) => `digits/${name}`),
    'digits/lora_low/adapter_model.safetensors',
  ];

  it.each(digits)('%s has the dtypes and shapes of expected.json, in file order', async (path) => {
    const bytes = readFixture(path);
    const checkpoint = await parseSafetensors(bytesSource(bytes), { fileName: path });
    const want = expected.files[path.slice('digits/'.length)];
    expect(want).toBeDefined();
    const got = Object.fromEntries(checkpoint.tensors.map((t) => [t.name, { dtype: t.dtype, shape: [...t.shape] }]));
    const wantTable = Object.fromEntries(
      Object.entries(want?.tensors ?? {}).map(([name, t]) => [name, { dtype: t.dtype, shape: t.shape }]),
    );
    expect(got).toEqual(wantTable);
    const offsets = checkpoint.extents.map((e) => e.offsetBytes);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    const last = checkpoint.extents.at(-1);
    expect(last && last.offsetBytes + last.sizeBytes).toBe(bytes.length);
  });

  it('digits/base.safetensors keeps its __metadata__', async () => {
    const checkpoint = await parseSafetensors(bytesSource(readFixture('digits/base.safetensors')), {
      fileName: 'base.safetensors',
    });
    expect(checkpoint.metadata).toEqual({ format: 'pt', made_by: 'weft fixtures' });
  });

  it('interop/hand_written.safetensors parses with its metadata', async () => {
    const checkpoint = await parseSafetensors(bytesSource(readFixture('interop/hand_written.safetensors')), {
      fileName: 'hand_written.safetensors',
    });
    expect(checkpoint.metadata).toEqual({ format: 'pt', note: 'metadata must survive' });
    expect(checkpoint.extents.map((e) => [e.name, e.dtype, e.shape, e.sizeBytes])).toEqual([
      ['step', 'I64', [1], 8],
      ['norm.weight', 'F32', [8], 32],
      ['embed.weight', 'BF16', [16, 8], 256],
      ['head.bias', 'F16', [16], 32],
    ]);
  });

  // Each hostile file: the code and what the message must say (corrupt/README.md).
  const corrupt: Record<string, [FormatErrorCode, RegExp]> = {
    'bad_dtype.safetensors': ['FORMAT_BAD_DTYPE', /tensor "w" has unknown dtype "F33"/],
    'header_past_eof.safetensors': [
      'FORMAT_TRUNCATED',
      /header of 96 bytes ends at byte 104 but the file has 96 bytes/,
    ],
    'header_too_large.safetensors': [
      'FORMAT_LIMIT',
      /header length 1152921504606846976 bytes exceeds the limit of 100000000 bytes/,
    ],
    'huge_shape.safetensors': [
      'FORMAT_BAD_SHAPE',
      /tensor "w" shape \[2147483648,2147483648,2147483648\] has more than 9007199254740991 elements/,
    ],
    'negative_offset.safetensors': ['FORMAT_BAD_OFFSETS', /tensor "w" data_offsets \[-8,24\] are not \[begin, end\]/],
    'not_json.safetensors': ['FORMAT_BAD_HEADER', /header is not valid JSON/],
    'overlap.safetensors': [
      'FORMAT_BAD_OFFSETS',
      /tensor "b" data_offsets \[16,32\] overlaps tensor "a" data_offsets \[0,32\]/,
    ],
    'shape_mismatch.safetensors': [
      'FORMAT_BAD_OFFSETS',
      /tensor "w" shape \[3,3\] of F32 says 36 bytes but data_offsets \[0,32\] say 32/,
    ],
    'trailing.safetensors': [
      'FORMAT_TRAILING_BYTES',
      /data ends at byte 96 but the file has 98 bytes \(2 trailing bytes\)/,
    ],
    'truncated.safetensors': ['FORMAT_TRUNCATED', /tensor "w" ends at byte 96 but the file has 91 bytes/],
  };

  it.each(listFixtures('corrupt', '.safetensors').filter((name) => name !== 'good.safetensors'))(
    'corrupt/%s is refused with a FormatError naming the file and the problem',
    async (name) => {
      const error = await parseSafetensors(bytesSource(readFixture(`corrupt/${name}`)), { fileName: name }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(FormatError);
      const { code, message } = error as FormatError;
      expect(message.startsWith(`${name}: `)).toBe(true);
      const want = corrupt[name];
      expect(want, `no expectation written for corrupt/${name}`).toBeDefined();
      expect(code).toBe(want?.[0]);
      expect(message).toMatch(want?.[1] as RegExp);
    },
  );

  it('corrupt/good.safetensors parses', async () => {
    const checkpoint = await safetensorsModule.parse(bytesSource(readFixture('corrupt/good.safetensors')), {
      fileName: 'good.safetensors',
    });
    expect(checkpoint.extents).toEqual([{ name: 'w', dtype: 'F32', shape: [8], offsetBytes: 64, sizeBytes: 32 }]);
  });
});
