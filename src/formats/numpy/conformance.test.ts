// Runs the shared format conformance suite on the .npy and .npz modules: hand-built corner cases plus the real
// NumPy files, with files of other formats that detect() must not claim.

import { deflateRawSync } from 'node:zlib';
import { readFixture } from '../../../test/support/fixtures.js';
import { formatConformance } from '../test-support/conformance.js';
import { buildZip } from '../zip/test-support/build-zip.js';
import { npyModule } from './npy-module.js';
import { npzModule } from './npz-module.js';
import { npy } from './test-support/hand-built.js';

const fixtures = (paths: string[]) => paths.map((path) => ({ name: path, bytes: readFixture(path) }));

const npyValid = [
  { name: 'c.npy', bytes: npy({ shape: [2, 2], data: 16 }) },
  { name: 'fortran.npy', bytes: npy({ fortran: true, shape: [2, 3], descr: '<i2', data: 12 }) },
  { name: 'big.npy', bytes: npy({ descr: '>f8', shape: [2], data: 16 }) },
  { name: 'v2.npy', bytes: npy({ version: 2, shape: [], data: 4 }) },
  { name: 'v3.npy', bytes: npy({ version: 3, descr: '|b1', shape: [0], data: 0 }) },
  ...fixtures(['interop/numpy_c.npy', 'interop/numpy_fortran.npy']),
];

const a = npy({ shape: [3], data: 12 });
const npzValid = [
  { name: 'one.npz', bytes: buildZip([{ name: 'w.npy', data: a }]) },
  {
    name: 'mixed.npz',
    bytes: buildZip([
      { name: 'w.npy', data: a, zip64: true },
      { name: 'z.npy', data: deflateRawSync(a), method: 8, uncompressedSizeBytes: a.length },
      { name: 'f.npy', data: npy({ fortran: true, shape: [2, 2], data: 16 }) },
    ]),
  },
  { name: 'zip64-end.npz', bytes: buildZip([{ name: 'w.npy', data: a }], { zip64End: true, comment: 'hi' }) },
  ...fixtures(['interop/numpy_stored.npz', 'interop/numpy_deflated.npz', 'digits/digits.npz', 'corrupt/zip_slip.npz']),
];

const others = fixtures([
  'digits/base.safetensors',
  'interop/torch_mixed.pt',
  'interop/torch_legacy.pt',
  'corrupt/malicious.pt',
  'corrupt/gguf_truncated.gguf',
  'digits/expected.json',
]);
const plainZip = { name: 'plain.zip', bytes: buildZip([{ name: 'readme.txt', data: new Uint8Array(4) }]) };

formatConformance(npyModule, {
  valid: npyValid,
  foreign: [...others, ...npzValid.slice(0, 1), plainZip],
  fuzzMillis: 1000,
});
formatConformance(npzModule, {
  valid: npzValid,
  foreign: [...others, ...npyValid.slice(0, 1), plainZip],
  fuzzMillis: 1500,
});
