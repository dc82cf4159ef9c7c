// Runs the shared format conformance suite on ONNX: hand-built models covering initializers, typed fields,
// Constant nodes and external data, with files of other formats that detect() must not claim.

import { listFixtures, readFixture } from '../../../test/support/fixtures.js';
import { formatConformance } from '../test-support/conformance.js';
import { onnxModule } from './onnx-module.js';
import { ONNX_VALID } from './test-support/hand-built.js';

const foreign = [
  ...listFixtures('digits', '.safetensors').map((name) => `digits/${name}`),
  ...listFixtures('interop', '').map((name) => `interop/${name}`),
  ...listFixtures('corrupt', '').map((name) => `corrupt/${name}`),
  'digits/base.pt',
  'digits/digits.npz',
].map((path) => ({ name: path, bytes: readFixture(path) }));

formatConformance(onnxModule, { valid: ONNX_VALID, foreign, fuzzMillis: 1500 });
