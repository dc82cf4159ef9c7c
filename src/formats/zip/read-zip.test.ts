// Tests of the ZIP directory reader: hand-built zips (stored, deflated, ZIP64, comments, torch alignment), the real
// fixtures, and one test per error code with the smallest bad zip.

import { describe, expect, it } from 'vitest';
import { readFixture } from '../../../test/support/fixtures.js';
import { FormatError, type FormatErrorCode } from '../../errors.js';
import { bytesSource } from '../format-module.js';
import { MAX_ZIP_ENTRIES, readFirstEntryName, readZipDirectory, resolveEntryData } from './read-zip.js';
import { buildZip } from './test-support/build-zip.js';

const bytesOf = (...xs: number[]) => Uint8Array.from(xs);

async function expectCode(bytes: Uint8Array, code: FormatErrorCode, pattern?: RegExp): Promise<void> {
  const error = await (async () => {
    const source = bytesSource(bytes);
    const directory = await readZipDirectory(source, { fileName: 'bad.zip' });
    for (const e of directory.entries) await resolveEntryData(source, directory, e, { fileName: 'bad.zip' });
  })().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(FormatError);
  expect((error as FormatError).code).toBe(code);
  expect((error as FormatError).message.startsWith('bad.zip: ')).toBe(true);
  if (pattern) expect((error as FormatError).message).toMatch(pattern);
}

describe('readZipDirectory', () => {
  it('lists entries with methods, sizes and data offsets', async () => {
    const bytes = buildZip(
      [
        { name: 'a/data.pkl', data: bytesOf(1, 2, 3), align: 64 },
        { name: 'b.bin', data: bytesOf(9, 9), method: 8, uncompressedSizeBytes: 10 },
        { name: 'c.bin', data: bytesOf(7), zip64: true },
      ],
      { comment: 'a comment' },
    );
    const source = bytesSource(bytes);
    const directory = await readZipDirectory(source, { fileName: 'x.zip' });
    expect(directory.entries.map((e) => [e.name, e.method, e.compressedSizeBytes, e.uncompressedSizeBytes])).toEqual([
      ['a/data.pkl', 0, 3, 3],
      ['b.bin', 8, 2, 10],
      ['c.bin', 0, 1, 1],
    ]);
    const offsets = [];
    for (const e of directory.entries)
      offsets.push(await resolveEntryData(source, directory, e, { fileName: 'x.zip' }));
    expect(offsets[0]! % 64).toBe(0);
    expect(offsets.map((o) => bytes[o])).toEqual([1, 9, 7]);
  });

  it('follows the ZIP64 end record and locator', async () => {
    const bytes = buildZip([{ name: 'w.npy', data: bytesOf(5) }], { zip64End: true });
    const directory = await readZipDirectory(bytesSource(bytes), { fileName: 'z.zip' });
    expect(directory.entries.map((e) => e.name)).toEqual(['w.npy']);
  });

  it('reads the real fixtures as Python zipfile lists them', async () => {
    const names = async (path: string) =>
      (await readZipDirectory(bytesSource(readFixture(path)), { fileName: path })).entries.map((e) => [
        e.name,
        e.method,
        e.localHeaderOffsetBytes,
      ]);
    expect(await names('interop/numpy_deflated.npz')).toEqual([
      ['a.npy', 8, 0],
      ['b.npy', 8, 157],
      ['c.npy', 8, 286],
    ]);
    expect(await names('corrupt/zip_slip.npz')).toEqual([['../../evil.npy', 0, 0]]);
    expect((await names('interop/torch_mixed.pt')).slice(0, 2)).toEqual([
      ['torch_mixed/data.pkl', 0, 0],
      ['torch_mixed/data/0', 0, 1214],
    ]);
  });

  it('readFirstEntryName sees the first local header, and says when the name is cut', () => {
    const bytes = buildZip([{ name: 'archive/data.pkl', data: bytesOf(1) }]);
    expect(readFirstEntryName(bytes.subarray(0, 64))).toEqual({ name: 'archive/data.pkl', truncated: false });
    expect(readFirstEntryName(bytes.subarray(0, 40))).toEqual({ name: 'archive/da', truncated: true });
    expect(readFirstEntryName(bytesOf(1, 2, 3))).toBeUndefined();
  });
});

describe('readZipDirectory: one test per error code', () => {
  const good = buildZip([{ name: 'a.bin', data: bytesOf(1, 2) }]);
  const eocdAt = good.length - 22;
  const patched = (at: number, set: (v: DataView) => void, bytes = good) => {
    const out = bytes.slice();
    set(new DataView(out.buffer, at));
    return out;
  };

  it('FORMAT_TRUNCATED: fewer bytes than an end record', async () => {
    await expectCode(good.subarray(0, 21), 'FORMAT_TRUNCATED');
  });

  it('FORMAT_BAD_HEADER: no end record', async () => {
    await expectCode(new Uint8Array(100), 'FORMAT_BAD_HEADER', /end-of-central-directory/);
  });

  it('FORMAT_TRAILING_BYTES: an end record whose comment does not reach the end', async () => {
    const longer = new Uint8Array(good.length + 3);
    longer.set(good);
    await expectCode(longer, 'FORMAT_TRAILING_BYTES');
  });

  it('FORMAT_LIMIT: an entry count over MAX_ZIP_ENTRIES, refused before allocating', async () => {
    const bytes = buildZip([{ name: 'w.npy', data: bytesOf(5) }], { zip64End: true });
    const zip64At = bytes.length - 22 - 20 - 56;
    const huge = patched(
      zip64At,
      (v) => {
        v.setBigUint64(24, BigInt(MAX_ZIP_ENTRIES * 4), true);
        v.setBigUint64(32, BigInt(MAX_ZIP_ENTRIES * 4), true);
      },
      bytes,
    );
    await expectCode(huge, 'FORMAT_LIMIT', /entries/);
  });

  it('FORMAT_LIMIT: an entry name over MAX_ZIP_NAME_BYTES', async () => {
    await expectCode(buildZip([{ name: 'n'.repeat(5000), data: bytesOf(1) }]), 'FORMAT_LIMIT', /name of 5000 bytes/);
  });

  it('FORMAT_BAD_OFFSETS: a central directory running past its end record', async () => {
    await expectCode(
      patched(eocdAt, (v) => v.setUint32(12, 1000, true)),
      'FORMAT_BAD_OFFSETS',
    );
  });

  it('FORMAT_UNSUPPORTED: a multi-disk archive', async () => {
    await expectCode(
      patched(eocdAt, (v) => v.setUint16(4, 1, true)),
      'FORMAT_UNSUPPORTED',
      /multi-disk/,
    );
  });

  it('FORMAT_BAD_HEADER: a local header whose name differs from the central directory', async () => {
    await expectCode(
      patched(30, (v) => v.setUint8(0, 0x62)),
      'FORMAT_BAD_HEADER',
      /local header/,
    );
  });
});
