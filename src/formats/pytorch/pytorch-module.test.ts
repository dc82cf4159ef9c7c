// Tests of the PyTorch module: real torch.save files against PyTorch's own hashes, hand-built corners (shared and
// transposed storages, big-endian, nested values, protocol 4), and one test per error code.

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { readFixture, readFixtureJson } from '../../../test/support/fixtures.js';
import { FormatError, type FormatErrorCode } from '../../errors.js';
import { dtypeSize } from '../../tensor/dtype.js';
import { byteswap, gatherRowMajor } from '../../tensor/gather.js';
import { rowMajorStrides } from '../../tensor/shape.js';
import { bytesSource, type Checkpoint, type TensorView } from '../format-module.js';
import { detectFormat } from '../registry.js';
import { buildZip } from '../zip/test-support/build-zip.js';
import { pytorchModule } from './pytorch-module.js';
import { loneTensorProtocol4, nestedStateDict } from './test-support/cases.js';
import { f32Bytes, P, pickle, simpleStateDict, tensorOps, torchZip } from './test-support/hand-built.js';

interface Expected {
  files: Record<string, { tensors?: Record<string, { dtype: string; shape: number[]; sha256: string }> }>;
}

/** The view's values as row-major little-endian bytes, read from the file in memory. */
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

function viewFloats(bytes: Uint8Array, checkpoint: Checkpoint, name: string): number[] {
  const view = checkpoint.tensors.find((t) => t.name === name)!;
  const out = viewBytes(bytes, checkpoint, view);
  return Array.from(new Float32Array(out.buffer, out.byteOffset, out.length / 4));
}

async function parse(bytes: Uint8Array, fileName = 'model.pt'): Promise<Checkpoint> {
  return pytorchModule.parse(bytesSource(bytes), { fileName });
}

async function expectCode(bytes: Uint8Array, code: FormatErrorCode, pattern?: RegExp): Promise<FormatError> {
  const error = await parse(bytes, 'bad.pt').then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(FormatError);
  expect((error as FormatError).code).toBe(code);
  expect((error as FormatError).message.startsWith('bad.pt: ')).toBe(true);
  if (pattern) expect((error as FormatError).message).toMatch(pattern);
  return error as FormatError;
}

describe('pytorch module: real files', () => {
  const expected = readFixtureJson('interop/expected.json') as Expected;
  const digits = readFixtureJson('digits/expected.json') as Expected;
  const cases: [string, Record<string, { dtype: string; shape: number[]; sha256: string }>][] = [
    ['interop/torch_mixed.pt', expected.files['torch_mixed.pt']!.tensors!],
    ['interop/torch_nested.pt', expected.files['torch_nested.pt']!.tensors!],
    ['digits/base.pt', digits.files['base.pt']!.tensors!],
  ];
  it.each(cases)('%s has the dtypes, shapes and hashes PyTorch computed', async (path, tensors) => {
    const bytes = readFixture(path);
    expect(detectFormat(bytes.subarray(0, 64), bytes.length)).toBe(pytorchModule);
    const checkpoint = await parse(bytes, path);
    expect(checkpoint.tensors.map((t) => t.name).sort()).toEqual(Object.keys(tensors).sort());
    for (const view of checkpoint.tensors) {
      const want = tensors[view.name]!;
      expect([view.name, view.dtype, view.shape]).toEqual([view.name, want.dtype, want.shape]);
      const hash = createHash('sha256')
        .update(viewBytes(bytes, checkpoint, view))
        .digest('hex');
      expect([view.name, hash]).toEqual([view.name, want.sha256]);
    }
  });

  it('torch_mixed.pt: storages are extents in file order, named after their first tensor; views share them', async () => {
    const checkpoint = await parse(readFixture('interop/torch_mixed.pt'), 'torch_mixed.pt');
    const offsets = checkpoint.extents.map((e) => e.offsetBytes);
    expect([...offsets].sort((a, b) => a - b)).toEqual(offsets);
    expect(offsets.every((o) => o % 64 === 0)).toBe(true);
    expect(checkpoint.extents).toHaveLength(13);
    const sliceA = checkpoint.tensors.find((t) => t.name === 'slice_a')!;
    const sliceB = checkpoint.tensors.find((t) => t.name === 'slice_b')!;
    expect(sliceB.extent).toBe(sliceA.extent);
    expect(checkpoint.extents[sliceA.extent]!.name).toBe('slice_a');
    expect(sliceB.offsetElements).toBe(12);
    const transposed = checkpoint.tensors.find((t) => t.name === 'transposed')!;
    expect(transposed.strides).toEqual([1, 8]);
  });

  it('torch_nested.pt: non-tensor values are reported in metadata (and stay in the frame)', async () => {
    const checkpoint = await parse(readFixture('interop/torch_nested.pt'), 'torch_nested.pt');
    expect(checkpoint.metadata).toEqual({
      'pytorch.version': '3',
      step: '1200',
      lr: '0.0003',
      name: 'run-7',
      betas: '(0.9, 0.999)',
    });
  });

  it('malicious.pt is refused with FORMAT_UNSAFE naming os.system (posix.system), nothing executed', async () => {
    const error = await pytorchModule
      .parse(bytesSource(readFixture('corrupt/malicious.pt')), { fileName: 'malicious.pt' })
      .catch((e: unknown) => e as FormatError);
    expect(error).toBeInstanceOf(FormatError);
    expect((error as FormatError).code).toBe('FORMAT_UNSAFE');
    expect((error as FormatError).message).toMatch(/^malicious\.pt: pickle global "posix\.system" .*is not allowed/);
  });

  it('torch_legacy.pt (pre-1.6, not a zip) is detected and parsed: storages after the pickles', async () => {
    const bytes = readFixture('interop/torch_legacy.pt');
    expect(pytorchModule.detect(bytes.subarray(0, 64), bytes.length)).toBe(true);
    const checkpoint = await parse(bytes, 'torch_legacy.pt');
    expect(checkpoint.metadata).toEqual({ 'pytorch.format': 'legacy (pre-1.6)' });
    expect(checkpoint.extents).toEqual([{ name: 'w', dtype: 'F32', shape: [4], offsetBytes: 343, sizeBytes: 16 }]);
    expect(checkpoint.tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual([['w', 'F32', [2, 2]]]);
    expect(viewFloats(bytes, checkpoint, 'w')).toEqual([1, 1, 1, 1]);
  });

  it('FORMAT_TRAILING_BYTES / FORMAT_TRUNCATED: a pre-1.6 file with bytes after, or missing from, its storage', async () => {
    const bytes = readFixture('interop/torch_legacy.pt');
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    await expectCode(longer, 'FORMAT_TRAILING_BYTES');
    await expectCode(bytes.subarray(0, bytes.length - 1), 'FORMAT_TRUNCATED');
  });
});

describe('pytorch module: hand-built files', () => {
  it('a transposed view of a shared storage reads in row-major order', async () => {
    const bytes = simpleStateDict();
    const checkpoint = await parse(bytes);
    expect(checkpoint.extents.map((e) => [e.name, e.dtype, e.shape])).toEqual([
      ['w', 'F32', [6]],
      ['b', 'F32', [3]],
    ]);
    expect(viewFloats(bytes, checkpoint, 'w')).toEqual([0, 1, 2, 3, 4, 5]);
    expect(viewFloats(bytes, checkpoint, 'wt')).toEqual([0, 3, 1, 4, 2, 5]);
    expect(viewFloats(bytes, checkpoint, 'b')).toEqual([0, 1, 2]);
  });

  it('finds the root from the entry names (torch 1.13 used the file stem)', async () => {
    const checkpoint = await parse(simpleStateDict({ root: 'pytorch_model' }));
    expect(checkpoint.tensors.map((t) => t.name)).toEqual(['w', 'wt', 'b']);
  });

  it('a big-endian byteorder record gives big-endian views with the same values', async () => {
    const bytes = simpleStateDict({ byteorder: 'big' });
    const checkpoint = await parse(bytes);
    expect(checkpoint.tensors.every((t) => t.byteOrder === 'big')).toBe(true);
    expect(checkpoint.metadata['pytorch.byteorder']).toBe('big');
    expect(viewFloats(bytes, checkpoint, 'wt')).toEqual([0, 3, 1, 4, 2, 5]);
  });

  it('reads ZIP64 entries', async () => {
    const checkpoint = await parse(simpleStateDict({ zip64: true }));
    expect(checkpoint.tensors).toHaveLength(3);
  });

  it('nested dicts, parameters, BUILD state and scalars', async () => {
    const bytes = nestedStateDict();
    const checkpoint = await parse(bytes);
    expect(checkpoint.tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual([['model.layer.weight', 'BF16', [2, 2]]]);
    expect(checkpoint.metadata).toMatchObject({
      step: '1200',
      lr: '0.0003',
      name: 'run-7',
      betas: '(0.9, 0.999)',
      flags: '[True, None]',
    });
  });

  it('protocol 4 with a lone tensor (named "tensor") viewing part of its storage', async () => {
    const bytes = loneTensorProtocol4();
    const checkpoint = await parse(bytes);
    expect(checkpoint.tensors.map((t) => t.name)).toEqual(['tensor']);
    expect(viewFloats(bytes, checkpoint, 'tensor')).toEqual([1, 2, 3]);
  });

  it('claims a long torch 1.13 root cut off by the 64-byte head, and parses it', async () => {
    const bytes = simpleStateDict({ root: 'checkpoint_epoch_100_step_5000_final' });
    expect(pytorchModule.detect(bytes.subarray(0, 64), bytes.length)).toBe(true);
    expect(pytorchModule.detect(bytes.subarray(0, 512), bytes.length)).toBe(true);
    expect((await parse(bytes)).tensors).toHaveLength(3);
    const plain = buildZip([{ name: 'a_long_plain_file_name_without_any_folder.txt', data: new Uint8Array(3) }]);
    expect(pytorchModule.detect(plain.subarray(0, 512), plain.length)).toBe(false);
  });

  it('detects torch zips by their first entry, and no other zip', () => {
    const torch = simpleStateDict();
    expect(pytorchModule.detect(torch.subarray(0, 64), torch.length)).toBe(true);
    const plain = buildZip([{ name: 'docs/readme.txt', data: new Uint8Array(3) }]);
    expect(pytorchModule.detect(plain.subarray(0, 64), plain.length)).toBe(false);
    const npz = readFixture('interop/numpy_stored.npz');
    expect(pytorchModule.detect(npz.subarray(0, 64), npz.length)).toBe(false);
  });
});

describe('pytorch module: one test per error code', () => {
  const storages = { '0': f32Bytes(6), '1': f32Bytes(3) };
  const dictOf = (...items: (readonly number[])[]): Uint8Array =>
    pickle(P.proto(2), P.emptyDict, P.mark, ...items, P.setitems, P.stop);

  it('FORMAT_UNSAFE: any global outside the allow-list, named', async () => {
    for (const [module, name] of [
      ['builtins', 'eval'],
      ['torch.storage', '_load_from_bytes'],
      ['torch', 'load'],
    ] as const) {
      const pkl = dictOf(P.str('x'), P.global(module, name), P.str('1'), P.tuple1, P.reduce);
      await expectCode(torchZip({ pickle: pkl }), 'FORMAT_UNSAFE', new RegExp(`"${module}\\.${name}"`));
    }
  });

  it('FORMAT_UNSAFE: opcodes that build arbitrary objects (NEWOBJ)', async () => {
    const pkl = pickle(P.proto(2), P.global('collections', 'OrderedDict'), P.emptyTuple, P.newobj, P.stop);
    await expectCode(torchZip({ pickle: pkl }), 'FORMAT_UNSAFE', /NEWOBJ/);
  });

  it('FORMAT_UNSUPPORTED: a compressed storage entry', async () => {
    const pkl = dictOf(
      P.str('b'),
      tensorOps({ storageType: 'FloatStorage', key: '1', numel: 3, shape: [3], strides: [1] }),
    );
    const zip = buildZip([
      { name: 'archive/data.pkl', data: pkl },
      { name: 'archive/data/1', data: new Uint8Array(5), method: 8, uncompressedSizeBytes: 12 },
    ]);
    await expectCode(zip, 'FORMAT_UNSUPPORTED', /compressed/);
  });

  it('FORMAT_BAD_HEADER: a zip without <root>/data.pkl', async () => {
    await expectCode(
      buildZip([{ name: 'archive/other.pkl', data: new Uint8Array(1) }]),
      'FORMAT_BAD_HEADER',
      /data\.pkl/,
    );
  });

  it('FORMAT_BAD_HEADER: a storage with no zip entry', async () => {
    const pkl = dictOf(
      P.str('b'),
      tensorOps({ storageType: 'FloatStorage', key: '9', numel: 3, shape: [3], strides: [1] }),
    );
    await expectCode(torchZip({ pickle: pkl, storages }), 'FORMAT_BAD_HEADER', /"archive\/data\/9"/);
  });

  it('FORMAT_TRUNCATED: a pickle without STOP', async () => {
    await expectCode(torchZip({ pickle: pickle(P.proto(2), P.emptyDict) }), 'FORMAT_TRUNCATED');
  });

  it('FORMAT_TRAILING_BYTES: bytes after STOP in data.pkl', async () => {
    await expectCode(torchZip({ pickle: pickle(P.proto(2), P.emptyDict, P.stop, P.none) }), 'FORMAT_TRAILING_BYTES');
  });

  it('FORMAT_LIMIT: containers nested deeper than MAX_NESTING_DEPTH', async () => {
    const deep: (readonly number[])[] = [P.proto(2)];
    for (let i = 0; i < 100; i++) deep.push(P.emptyList, P.mark);
    deep.push(P.none);
    for (let i = 0; i < 100; i++) deep.push(P.appends);
    deep.push(P.stop);
    await expectCode(torchZip({ pickle: pickle(...deep) }), 'FORMAT_LIMIT', /deeper/);
  });

  it('FORMAT_BAD_OFFSETS: a view reaching past its storage', async () => {
    const pkl = dictOf(
      P.str('b'),
      tensorOps({ storageType: 'FloatStorage', key: '1', numel: 3, offset: 1, shape: [3], strides: [1] }),
    );
    await expectCode(torchZip({ pickle: pkl, storages }), 'FORMAT_BAD_OFFSETS', /reaches element 3/);
  });

  it('FORMAT_BAD_OFFSETS: a storage entry whose size does not match numel', async () => {
    const pkl = dictOf(
      P.str('b'),
      tensorOps({ storageType: 'FloatStorage', key: '1', numel: 4, shape: [3], strides: [1] }),
    );
    await expectCode(torchZip({ pickle: pkl, storages }), 'FORMAT_BAD_OFFSETS', /need 16/);
  });

  it('FORMAT_BAD_SHAPE: a negative dimension', async () => {
    const pkl = dictOf(
      P.str('b'),
      tensorOps({ storageType: 'FloatStorage', key: '1', numel: 3, shape: [-3], strides: [1] }),
    );
    await expectCode(torchZip({ pickle: pkl, storages }), 'FORMAT_BAD_SHAPE');
  });
});
