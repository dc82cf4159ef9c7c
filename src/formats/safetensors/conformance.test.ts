// Runs the shared format conformance suite on safetensors: hand-built corner cases plus every real fixture,
// with files of other formats that detect() must not claim.

import { listFixtures, readFixture } from '../../../test/support/fixtures.js';
import { formatConformance } from '../test-support/conformance.js';
import { safetensorsModule } from './safetensors-module.js';
import { HAND_BUILT_VALID } from './test-support/hand-built.js';

const real = [
  ...listFixtures('digits', '.safetensors').map((name) => `digits/${name}`),
  'digits/lora_low/adapter_model.safetensors',
  'interop/hand_written.safetensors',
  'corrupt/good.safetensors',
].map((path) => ({ name: path, bytes: readFixture(path) }));

const foreign = [
  'digits/base.pt',
  'digits/digits.npz',
  'interop/numpy_c.npy',
  'interop/numpy_fortran.npy',
  'interop/numpy_stored.npz',
  'interop/torch_legacy.pt',
  'interop/torch_mixed.pt',
  'corrupt/gguf_truncated.gguf',
  'corrupt/malicious.pt',
  'corrupt/zip_slip.npz',
  'digits/expected.json',
].map((path) => ({ name: path, bytes: readFixture(path) }));

formatConformance(safetensorsModule, { valid: [...HAND_BUILT_VALID, ...real], foreign, fuzzMillis: 2000 });
