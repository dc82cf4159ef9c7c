// Unit tests of the GGUF parser: metadata text, tensor layout (plain and quantized), and one test per error code,
// with small lying headers for every limit.

import { describe, expect, it } from 'vitest';
import { readFixture } from '../../../test/support/fixtures.js';
import { FormatError } from '../../errors.js';
import { type ByteSource, bytesSource } from '../format-module.js';
import { MAX_GGUF_ARRAY_DEPTH, MAX_GGUF_KV_COUNT, MAX_GGUF_NAME_BYTES, parseGguf } from './gguf-module.js';
import { buildGguf, counting, kv, Writer } from './test-support/build-gguf.js';
import { GGUF_VALID } from './test-support/hand-built.js';

const parse = (bytes: Uint8Array) => parseGguf(bytesSource(bytes), { fileName: 'm.gguf' });

async function codeOf(bytes: Uint8Array): Promise<string> {
  try {
    await parse(bytes);
  } catch (e) {
    if (e instanceof FormatError) {
      expect(e.message.startsWith('m.gguf: ')).toBe(true);
      return e.code;
    }
    throw e;
  }
  return 'ok';
}

const valid = (name: string) => GGUF_VALID.find((f) => f.name === name)!.bytes;

describe('parseGguf', () => {
  it('turns every metadata type into text, arrays summarised', async () => {
    const cp = await parse(valid('all-kv-types.gguf'));
    expect(cp.metadata).toMatchObject({
      'gguf.version': '2',
      'general.architecture': 'llama',
      u8: '200',
      i8: '-3',
      u16: '65535',
      i16: '-2',
      u32: '4000000000',
      i32: '-7',
      f32: '0.1',
      bool: 'true',
      u64: '9223372036854775808',
      i64: '-1099511627776',
      f64: '1e-300',
      ints: 'int32[3]: [1, -2, 3]',
      tokens: 'string[20]',
      nested: 'array[2]: [uint32[1]: [1], string[2]: ["a", ""]]',
      empty: 'float32[0]: []',
    });
  });

  it('exposes plain tensors with their dtype and row-major shape, quantized ones as U8 blocks with the ggml type', async () => {
    const cp = await parse(valid('mixed-types.gguf'));
    const byName = Object.fromEntries(cp.tensors.map((t) => [t.name, t]));
    expect(byName['blk.0.attn_q.weight']).toMatchObject({
      dtype: 'U8',
      shape: [288],
      storedType: 'Q4_K',
      storedShape: [2, 256],
    });
    expect(byName['blk.0.ffn.weight']).toMatchObject({
      dtype: 'U8',
      shape: [102],
      storedType: 'Q8_0',
      storedShape: [3, 32],
    });
    expect(byName.ternary).toMatchObject({ dtype: 'U8', shape: [54], storedType: 'TQ1_0' });
    expect(byName.norm).toEqual({ name: 'norm', dtype: 'F16', shape: [4], extent: byName.norm!.extent });
    expect(byName.bf).toMatchObject({ dtype: 'BF16', shape: [2, 2] });
    expect(byName.scalar).toMatchObject({ dtype: 'F64', shape: [] });
    // Data is 64-byte aligned: every extent starts on a multiple of 64.
    for (const e of cp.extents) expect(e.offsetBytes % 64).toBe(0);
    expect(cp.metadata['general.alignment']).toBe('64');
  });

  it('orders extents by data offset, whatever the order of the tensor infos', async () => {
    const bytes = buildGguf({
      tensors: [
        { name: 'second', dims: [1], type: 0, data: counting(4), offset: 32n },
        { name: 'first', dims: [1], type: 0, data: counting(4), offset: 0n },
      ],
    });
    const cp = await parse(bytes);
    expect(cp.extents.map((e) => e.name)).toEqual(['first', 'second']);
  });

  it('fails fast on the shared gguf_truncated.gguf (10^12 tensors and KVs, then nothing)', async () => {
    const bytes = readFixture('corrupt/gguf_truncated.gguf');
    let reads = 0;
    const counted: ByteSource = {
      sizeBytes: bytes.length,
      read: (o, n) => {
        reads += n;
        return bytesSource(bytes).read(o, n);
      },
    };
    const error = await parseGguf(counted, { fileName: 'gguf_truncated.gguf' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FormatError);
    expect(['FORMAT_LIMIT', 'FORMAT_TRUNCATED']).toContain((error as FormatError).code);
    expect((error as FormatError).message).toMatch(/^gguf_truncated\.gguf: tensor count 1000000000000 exceeds/);
    expect(reads).toBeLessThanOrEqual(bytes.length);
  });

  describe('error codes', () => {
    it('FORMAT_UNSUPPORTED: version 1, unknown versions and big-endian files', async () => {
      expect(await codeOf(buildGguf({ version: 1 }))).toBe('FORMAT_UNSUPPORTED');
      expect(await codeOf(buildGguf({ version: 4 }))).toBe('FORMAT_UNSUPPORTED');
      const bigEndian = buildGguf({});
      new DataView(bigEndian.buffer).setUint32(4, 3, false);
      await expect(parse(bigEndian)).rejects.toThrow(/big-endian/);
    });

    it('FORMAT_BAD_HEADER: bad magic, duplicate keys or names, unknown value type, bad alignment', async () => {
      const badMagic = buildGguf({});
      badMagic[0] = 0x48;
      expect(await codeOf(badMagic)).toBe('FORMAT_BAD_HEADER');
      expect(
        await codeOf(
          buildGguf({
            kvs: [
              ['a', kv.u8(1)],
              ['a', kv.u8(2)],
            ],
          }),
        ),
      ).toBe('FORMAT_BAD_HEADER');
      const t = { dims: [1], type: 0, data: counting(4) };
      expect(
        await codeOf(
          buildGguf({
            tensors: [
              { name: 'x', ...t },
              { name: 'x', ...t },
            ],
          }),
        ),
      ).toBe('FORMAT_BAD_HEADER');
      expect(await codeOf(buildGguf({ tensors: [{ name: '', ...t }] }))).toBe('FORMAT_BAD_HEADER');
      expect(await codeOf(buildGguf({ kvs: [['k', { type: 13, write: (w) => w.u8(0) }]] }))).toBe('FORMAT_BAD_HEADER');
      expect(await codeOf(buildGguf({ kvs: [['general.alignment', kv.u32(48)]] }))).toBe('FORMAT_BAD_HEADER');
      expect(await codeOf(buildGguf({ kvs: [['general.alignment', kv.u64(32n)]] }))).toBe('FORMAT_BAD_HEADER');
    });

    it('FORMAT_BAD_DTYPE: an unknown or removed ggml type', async () => {
      expect(await codeOf(buildGguf({ tensors: [{ name: 'x', dims: [32], type: 4, data: counting(20) }] }))).toBe(
        'FORMAT_BAD_DTYPE',
      );
      expect(await codeOf(buildGguf({ tensors: [{ name: 'x', dims: [1], type: 999, data: counting(4) }] }))).toBe(
        'FORMAT_BAD_DTYPE',
      );
    });

    it('FORMAT_BAD_SHAPE: element count over 2^53, rows not a multiple of the block', async () => {
      const huge = buildGguf({ tensors: [{ name: 'x', dims: [2n ** 32n, 2n ** 32n], type: 0, data: counting(4) }] });
      expect(await codeOf(huge)).toBe('FORMAT_BAD_SHAPE');
      expect(await codeOf(buildGguf({ tensors: [{ name: 'q', dims: [33], type: 8, data: counting(34) }] }))).toBe(
        'FORMAT_BAD_SHAPE',
      );
    });

    it('FORMAT_BAD_OFFSETS: unaligned, overlapping or huge offsets', async () => {
      const t = (name: string, offset: bigint) => ({ name, dims: [8], type: 0, data: counting(32), offset });
      expect(await codeOf(buildGguf({ tensors: [t('a', 4n)] }))).toBe('FORMAT_BAD_OFFSETS');
      expect(await codeOf(buildGguf({ tensors: [t('a', 0n), t('b', 0n)] }))).toBe('FORMAT_BAD_OFFSETS');
      expect(await codeOf(buildGguf({ tensors: [t('a', 2n ** 60n)] }))).toBe('FORMAT_BAD_OFFSETS');
    });

    it('FORMAT_TRUNCATED: data past the end, header cut short', async () => {
      const bytes = valid('mixed-types.gguf');
      expect(await codeOf(bytes.subarray(0, bytes.length - 70))).toBe('FORMAT_TRUNCATED');
      expect(await codeOf(bytes.subarray(0, 30))).toBe('FORMAT_TRUNCATED');
    });

    it('FORMAT_TRAILING_BYTES: more than the final padding after the data', async () => {
      const bytes = valid('unpadded-end.gguf');
      const padded = new Uint8Array(bytes.length + 8);
      padded.set(bytes);
      expect(await codeOf(padded)).toBe('ok');
      const longer = new Uint8Array(bytes.length + 100);
      longer.set(bytes);
      expect(await codeOf(longer)).toBe('FORMAT_TRAILING_BYTES');
    });
  });

  describe('limits, checked before reading or allocating', () => {
    it('KV count over the limit', async () => {
      const bytes = buildGguf({ kvCount: BigInt(MAX_GGUF_KV_COUNT + 1) });
      await expect(parse(bytes)).rejects.toThrow(/metadata count 1000001 exceeds the limit/);
    });

    it('KV count within the limit but beyond the bytes left', async () => {
      expect(await codeOf(buildGguf({ kvCount: 1000n }))).toBe('FORMAT_TRUNCATED');
    });

    it('tensor count beyond the bytes left', async () => {
      expect(await codeOf(buildGguf({ tensorCount: 5000n }))).toBe('FORMAT_TRUNCATED');
    });

    it('string length: 2^62 for a key, a long name for a tensor', async () => {
      const w = new Writer()
        .bytes([0x47, 0x47, 0x55, 0x46])
        .u32(3)
        .u64(0)
        .u64(1)
        .str('key', 2n ** 62n)
        .u32(8)
        .u64(0);
      expect(await codeOf(w.done())).toBe('FORMAT_LIMIT');
      const long = 'n'.repeat(MAX_GGUF_NAME_BYTES + 1);
      expect(await codeOf(buildGguf({ tensors: [{ name: long, dims: [1], type: 0, data: counting(4) }] }))).toBe(
        'FORMAT_LIMIT',
      );
    });

    it('array length: 2^40 items, and nesting deeper than the limit', async () => {
      expect(await codeOf(buildGguf({ kvs: [['a', kv.array(4, [], 2n ** 40n)]] }))).toBe('FORMAT_LIMIT');
      expect(await codeOf(buildGguf({ kvs: [['a', kv.array(4, [], 1000n)]] }))).toBe('FORMAT_TRUNCATED');
      let deep = kv.array(4, []);
      for (let i = 0; i < MAX_GGUF_ARRAY_DEPTH + 1; i++) deep = kv.array(9, [deep]);
      expect(await codeOf(buildGguf({ kvs: [['deep', deep]] }))).toBe('FORMAT_LIMIT');
    });

    it('n_dims over 4', async () => {
      expect(
        await codeOf(buildGguf({ tensors: [{ name: 'x', dims: [1, 1, 1, 1, 1], type: 0, data: counting(4) }] })),
      ).toBe('FORMAT_LIMIT');
    });
  });
});
