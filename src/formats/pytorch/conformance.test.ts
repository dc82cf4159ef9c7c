// Runs the shared format conformance suite on the PyTorch module: hand-built corner cases plus the real
// torch.save files, with files of other formats that detect() must not claim.

import { readFixture } from '../../../test/support/fixtures.js';
import { formatConformance } from '../test-support/conformance.js';
import { buildZip } from '../zip/test-support/build-zip.js';
import { pytorchModule } from './pytorch-module.js';
import { HAND_BUILT_VALID } from './test-support/cases.js';

const real = ['interop/torch_mixed.pt', 'interop/torch_nested.pt', 'interop/torch_legacy.pt', 'digits/base.pt'].map(
  (path) => ({
    name: path,
    bytes: readFixture(path),
  }),
);

const foreign = [
  'digits/base.safetensors',
  'digits/digits.npz',
  'interop/numpy_c.npy',
  'interop/numpy_stored.npz',
  'interop/numpy_deflated.npz',
  'corrupt/gguf_truncated.gguf',
  'corrupt/zip_slip.npz',
  'digits/expected.json',
].map((path) => ({ name: path, bytes: readFixture(path) }));

const plainZip = { name: 'plain.zip', bytes: buildZip([{ name: 'docs/readme.txt', data: new Uint8Array(4) }]) };

formatConformance(pytorchModule, {
  valid: [...HAND_BUILT_VALID, ...real],
  foreign: [...foreign, plainZip],
  fuzzMillis: 1500,
});
