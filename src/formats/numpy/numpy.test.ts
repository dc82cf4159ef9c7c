// Tests of the NumPy modules: real .npy/.npz files against NumPy's values, Fortran order and big-endian views,
// deflated and hostile npz entries, and one test per error code.

import { createHash } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readFixture, readFixtureJson } from '../../../test/support/fixtures.js';
import { FormatError, type FormatErrorCode } from '../../errors.js';
import { dtypeSize } from '../../tensor/dtype.js';
import { byteswap, gatherRowMajor } from '../../tensor/gather.js';
import { rowMajorStrides } from '../../tensor/shape.js';
import { bytesSource, type Checkpoint, type FormatModule, type TensorView } from '../format-module.js';
import { detectFormat } from '../registry.js';
import { buildZip } from '../zip/test-support/build-zip.js';
import { npyModule } from './npy-module.js';
import { npzModule } from './npz-module.js';
import { npy } from './test-support/hand-built.js';

function viewBytes(bytes: Uint8Array, checkpoint: Checkpoint, view: TensorView): Uint8Array {
  const e = checkpoint.extents[view.extent]!;
  const raw = bytes.subarray(e.offsetBytes, e.offsetBytes + e.sizeBytes);
  const size = dtypeSize(view.dtype);
  const out = gatherRowMajor(
    raw,
    size,
    view.shape,
    view.strides ?? rowMajorStrides(view.shape),
    view.offsetElements ?? 0,
  );
  return view.byteOrder === 'big' ? byteswap(out, size) : out;
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

async function expectCode(
  module: FormatModule,
  bytes: Uint8Array,
  code: FormatErrorCode,
  pattern?: RegExp,
): Promise<void> {
  const error = await module.parse(bytesSource(bytes), { fileName: 'bad.npy' }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(FormatError);
  expect((error as FormatError).code).toBe(code);
  expect((error as FormatError).message.startsWith('bad.npy: ')).toBe(true);
  if (pattern) expect((error as FormatError).message).toMatch(pattern);
}

// Values computed with NumPy 2.4: sha256 of np.ascontiguousarray(x) as little-endian bytes.
const F64_2X3 = '84a6e8b7afdd286a48ab0aab2c72227fff91a935b0489e633018914bd01693cd';

describe('npy: real files', () => {
  it('numpy_c.npy has the dtype, shape and hash in expected.json', async () => {
    const expected = readFixtureJson('interop/expected.json') as {
      files: Record<string, { tensors: Record<string, { dtype: string; shape: number[]; sha256: string }> }>;
    };
    const want = expected.files['numpy_c.npy']!.tensors['']!;
    const bytes = readFixture('interop/numpy_c.npy');
    expect(detectFormat(bytes.subarray(0, 64), bytes.length)).toBe(npyModule);
    const checkpoint = await npyModule.parse(bytesSource(bytes), { fileName: 'numpy_c.npy' });
    const [view] = checkpoint.tensors;
    expect([view!.dtype, view!.shape]).toEqual([want.dtype, want.shape]);
    expect(sha(viewBytes(bytes, checkpoint, view!))).toBe(want.sha256);
  });

  it('numpy_fortran.npy reads in true row-major order through column-major strides', async () => {
    const bytes = readFixture('interop/numpy_fortran.npy');
    const checkpoint = await npyModule.parse(bytesSource(bytes), { fileName: 'numpy_fortran.npy' });
    const [view] = checkpoint.tensors;
    expect(view).toMatchObject({ dtype: 'F64', shape: [2, 3], strides: [1, 2] });
    expect(checkpoint.extents[0]!.shape).toEqual([3, 2]);
    expect(sha(viewBytes(bytes, checkpoint, view!))).toBe(F64_2X3);
  });
});

describe('npy: hand-built files', () => {
  it('maps every numeric dtype, and big-endian to byteOrder "big"', async () => {
    const cases: [string, string][] = [
      ['<f2', 'F16'],
      ['<f4', 'F32'],
      ['<f8', 'F64'],
      ['|i1', 'I8'],
      ['<i2', 'I16'],
      ['<i4', 'I32'],
      ['<i8', 'I64'],
      ['|u1', 'U8'],
      ['<u2', 'U16'],
      ['<u4', 'U32'],
      ['<u8', 'U64'],
      ['|b1', 'BOOL'],
    ];
    for (const [descr, dtype] of cases) {
      const size = Number(descr.slice(2));
      const checkpoint = await npyModule.parse(bytesSource(npy({ descr, shape: [3], data: 3 * size })), {
        fileName: 'a.npy',
      });
      expect([descr, checkpoint.tensors[0]!.dtype, checkpoint.tensors[0]!.byteOrder]).toEqual([
        descr,
        dtype,
        undefined,
      ]);
    }
    const data = new Uint8Array(8);
    new DataView(data.buffer).setFloat32(0, 1.5, false);
    new DataView(data.buffer).setFloat32(4, -2, false);
    const bytes = npy({ descr: '>f4', shape: [2], data });
    const checkpoint = await npyModule.parse(bytesSource(bytes), { fileName: 'be.npy' });
    expect(checkpoint.tensors[0]!.byteOrder).toBe('big');
    const out = viewBytes(bytes, checkpoint, checkpoint.tensors[0]!);
    expect(Array.from(new Float32Array(out.buffer, out.byteOffset, 2))).toEqual([1.5, -2]);
  });

  it('reads versions 2 and 3, scalars and empty arrays', async () => {
    for (const version of [2, 3]) {
      const checkpoint = await npyModule.parse(bytesSource(npy({ version, shape: [2], data: 8 })), {
        fileName: 'v.npy',
      });
      expect(checkpoint.tensors[0]!.shape).toEqual([2]);
    }
    const scalar = await npyModule.parse(bytesSource(npy({ shape: [], data: 4 })), { fileName: 's.npy' });
    expect(scalar.tensors[0]!.shape).toEqual([]);
    const empty = await npyModule.parse(bytesSource(npy({ shape: [0, 5], data: 0 })), { fileName: 'e.npy' });
    expect(empty.extents[0]!.sizeBytes).toBe(0);
  });
});

describe('npz', () => {
  it("numpy_stored.npz: stored entries are tensors named without .npy, with NumPy's values", async () => {
    const bytes = readFixture('interop/numpy_stored.npz');
    expect(detectFormat(bytes.subarray(0, 64), bytes.length)).toBe(npzModule);
    const checkpoint = await npzModule.parse(bytesSource(bytes), { fileName: 'numpy_stored.npz' });
    expect(checkpoint.tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual([
      ['a', 'F32', [3, 4]],
      ['b', 'I16', [3]],
      ['c', 'F64', [2, 3]],
    ]);
    const hashes = checkpoint.tensors.map((t) => sha(viewBytes(bytes, checkpoint, t)));
    expect(hashes).toEqual([
      '29e1889124dc651e7bb488251123910767d042ae6dc47c280ec364655e24ab49',
      '047dbf5366372631ba7e3e02520e651446b899c96c4b64663bac378a298a7bf7',
      F64_2X3,
    ]);
  });

  it("digits.npz: four arrays with NumPy's hashes", async () => {
    const bytes = readFixture('digits/digits.npz');
    const checkpoint = await npzModule.parse(bytesSource(bytes), { fileName: 'digits.npz' });
    expect(
      checkpoint.tensors.map((t) => [t.name, t.dtype, t.shape, sha(viewBytes(bytes, checkpoint, t)).slice(0, 12)]),
    ).toEqual([
      ['X_train', 'U8', [1257, 64], '17eee3307093'],
      ['y_train', 'I64', [1257], '269db19a6d9c'],
      ['X_test', 'U8', [540, 64], '0362b8d50d8d'],
      ['y_test', 'I64', [540], 'd6c57f40cbbc'],
    ]);
  });

  it('numpy_deflated.npz: deflated entries stay in the frame and are listed in metadata', async () => {
    const bytes = readFixture('interop/numpy_deflated.npz');
    const checkpoint = await npzModule.parse(bytesSource(bytes), { fileName: 'numpy_deflated.npz' });
    expect(checkpoint.extents).toEqual([]);
    expect(checkpoint.metadata).toEqual({ 'npz.compressed': '"a", "b", "c"' });
  });

  it('zip_slip.npz: an entry name escaping the folder is only a tensor name; nothing is written', async () => {
    const bytes = readFixture('corrupt/zip_slip.npz');
    const checkpoint = await npzModule.parse(bytesSource(bytes), { fileName: 'zip_slip.npz' });
    expect(checkpoint.tensors.map((t) => t.name)).toEqual(['../../evil']);
  });

  it('mixes stored and deflated entries, ZIP64 extras and non-.npy entries', async () => {
    const a = npy({ shape: [2], data: 8 });
    const bytes = buildZip([
      { name: 'a.npy', data: a, zip64: true },
      { name: 'b.npy', data: deflateRawSync(a), method: 8, uncompressedSizeBytes: a.length },
      { name: 'notes.txt', data: new Uint8Array(3) },
    ]);
    const checkpoint = await npzModule.parse(bytesSource(bytes), { fileName: 'mixed.npz' });
    expect(checkpoint.tensors.map((t) => t.name)).toEqual(['a']);
    expect(checkpoint.metadata['npz.compressed']).toBe('"b"');
  });

  it('detects zips whose first entry is a .npy, and no other zip', () => {
    const long = buildZip([{ name: `${'x'.repeat(40)}.npy`, data: npy({ shape: [1], data: 4 }) }]);
    expect(npzModule.detect(long.subarray(0, 64), long.length)).toBe(false);
    expect(npzModule.detect(long.subarray(0, 512), long.length)).toBe(true);
    const plain = buildZip([{ name: 'readme.txt', data: new Uint8Array(3) }]);
    expect(npzModule.detect(plain.subarray(0, 64), plain.length)).toBe(false);
    const torch = readFixture('interop/torch_mixed.pt');
    expect(npzModule.detect(torch.subarray(0, 64), torch.length)).toBe(false);
  });
});

describe('numpy: one test per error code', () => {
  it('FORMAT_UNSAFE: an object array (pickled Python objects)', async () => {
    await expectCode(npyModule, npy({ descr: '|O', shape: [1], data: 8 }), 'FORMAT_UNSAFE', /object dtype "\|O"/);
    const zip = buildZip([{ name: 'o.npy', data: npy({ descr: '|O', shape: [1], data: 8 }) }]);
    await expectCode(npzModule, zip, 'FORMAT_UNSAFE');
  });

  it('FORMAT_BAD_DTYPE: complex, string and structured dtypes', async () => {
    await expectCode(npyModule, npy({ descr: '<c8', shape: [1], data: 8 }), 'FORMAT_BAD_DTYPE', /"<c8"/);
    const structured = "{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (1,), }\n";
    await expectCode(npyModule, npy({ header: structured, data: 4 }), 'FORMAT_BAD_DTYPE', /structured/);
  });

  it('FORMAT_BAD_HEADER: a missing key, a bad literal, a bad magic', async () => {
    await expectCode(
      npyModule,
      npy({ header: "{'descr': '<f4', 'shape': (1,)}\n", data: 4 }),
      'FORMAT_BAD_HEADER',
      /keys/,
    );
    await expectCode(npyModule, npy({ header: "{'descr': '<f4', __import__('os')}\n", data: 4 }), 'FORMAT_BAD_HEADER');
    const bad = npy();
    bad[1] = 0x4f;
    await expectCode(npyModule, bad, 'FORMAT_BAD_HEADER', /magic/);
  });

  it('FORMAT_UNSUPPORTED: an unknown .npy version', async () => {
    await expectCode(npyModule, npy({ version: 4 }), 'FORMAT_UNSUPPORTED', /version 4/);
  });

  it('FORMAT_LIMIT: a header length over MAX_NPY_HEADER_BYTES, refused before reading it', async () => {
    await expectCode(npyModule, npy({ version: 2, declaredLength: 2 ** 31 }), 'FORMAT_LIMIT', /2147483648/);
  });

  it('FORMAT_TRUNCATED and FORMAT_TRAILING_BYTES: data shorter or longer than the shape says', async () => {
    await expectCode(npyModule, npy({ shape: [2, 2], data: 15 }), 'FORMAT_TRUNCATED');
    await expectCode(npyModule, npy({ shape: [2, 2], data: 17 }), 'FORMAT_TRAILING_BYTES');
  });

  it('FORMAT_BAD_SHAPE: a negative dimension', async () => {
    await expectCode(
      npyModule,
      npy({ header: "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }\n" }),
      'FORMAT_BAD_SHAPE',
    );
  });

  it('FORMAT_BAD_OFFSETS: an npz entry whose size does not match its header', async () => {
    await expectCode(
      npzModule,
      buildZip([{ name: 'a.npy', data: npy({ shape: [2], data: 12 }) }]),
      'FORMAT_BAD_OFFSETS',
    );
  });
});
