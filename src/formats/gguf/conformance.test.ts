// Runs the shared format conformance suite on GGUF: hand-built files covering every KV type and tensor kind, with
// files of other formats that detect() must not claim.

import { listFixtures, readFixture } from '../../../test/support/fixtures.js';
import { formatConformance } from '../test-support/conformance.js';
import { ggufModule } from './gguf-module.js';
import { GGUF_VALID } from './test-support/hand-built.js';

const foreign = [
  ...listFixtures('digits', '.safetensors').map((name) => `digits/${name}`),
  'digits/base.pt',
  'digits/digits.npz',
  'interop/numpy_c.npy',
  'interop/torch_legacy.pt',
  'corrupt/malicious.pt',
  'digits/expected.json',
].map((path) => ({ name: path, bytes: readFixture(path) }));

formatConformance(ggufModule, { valid: GGUF_VALID, foreign, fuzzMillis: 1500 });
