// ONNX external data files: the model's declared tensors become extents of the data file (conformance suite on a
// laid-out file), overlaps and tensors past the end are refused.

import { describe, expect, it } from 'vitest';
import { bytesSource } from '../format-module.js';
import { formatConformance } from '../test-support/conformance.js';
import { layoutOnnxExternalData, onnxExternalDataModule } from './external-data.js';
import { listOnnxExternalTensors } from './onnx-module.js';
import { EXTERNAL_DATA as DATA, EXTERNAL_MODEL } from './test-support/hand-built.js';

const external = await listOnnxExternalTensors(bytesSource(EXTERNAL_MODEL), { fileName: 'model.onnx' });
const plan = { model: 'model.onnx', tensors: external.filter((t) => t.location === 'model.onnx.data') };

describe('ONNX external data', () => {
  it('lists the external tensors with dtype, shape and byte range', () => {
    expect(external.map((t) => [t.name, t.location, t.offsetBytes, t.sizeBytes, t.dtype, t.shape])).toEqual([
      ['w', 'model.onnx.data', 0, 256, 'F32', [8, 8]],
      ['h', 'model.onnx.data', 256, 20, 'F16', [10]],
      ['q', 'model.onnx.data', 320, 4, 'U8', [4]],
      ['other', 'other.bin', 0, 4, 'F32', [1]],
    ]);
    expect(external[2]).toMatchObject({ storedType: 'INT4', storedShape: [7] });
  });

  it('lays the data file out, padding as frame', () => {
    const cp = layoutOnnxExternalData(plan, DATA.length, 'model.onnx.data');
    expect(cp.format).toBe('onnx-external-data');
    expect(cp.extents.map((e) => [e.name, e.offsetBytes, e.sizeBytes])).toEqual([
      ['w', 0, 256],
      ['h', 256, 20],
      ['q', 320, 4],
    ]);
  });

  it('refuses overlapping tensors and tensors past the end of the file', () => {
    const overlapping = { model: 'm.onnx', tensors: [plan.tensors[0]!, { ...plan.tensors[1]!, offsetBytes: 100 }] };
    expect(() => layoutOnnxExternalData(overlapping, 400, 'd.bin')).toThrow(/overlaps/);
    expect(() => layoutOnnxExternalData(plan, 300, 'd.bin')).toThrow(/ends at byte 324 but the file has 300 bytes/);
  });

  formatConformance(onnxExternalDataModule(plan), {
    valid: [{ name: 'model.onnx.data', bytes: DATA }],
    fuzzMillis: 300,
  });
});
