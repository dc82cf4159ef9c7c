// Valid ONNX files covering the format's corners, built with build-onnx.ts. Test-only.

import { buildOnnx, constantNode, counting, f32Bytes, lField, opNode, tensorProto } from './build-onnx.js';

export const ONNX_VALID: readonly { name: string; bytes: Uint8Array }[] = [
  { name: 'empty-graph.onnx', bytes: buildOnnx({}) },
  {
    name: 'initializers.onnx',
    bytes: buildOnnx({
      nodes: [opNode(['x', 'w'], 'y', 'MatMul'), opNode(['y', 'b'], 'z', 'Add')],
      initializers: [
        tensorProto({ name: 'w', dims: [2, 3], dataType: 1, raw: f32Bytes([1, 2, 3, 4, 5, 6]) }),
        tensorProto({ name: 'b', dims: [3], dataType: 10, raw: counting(6) }),
        tensorProto({ name: 'scalar', dims: [], dataType: 7, raw: counting(8, 3) }),
        tensorProto({ name: 'empty', dims: [0, 4], dataType: 1, raw: new Uint8Array(0) }),
      ],
    }),
  },
  {
    name: 'typed-fields.onnx',
    bytes: buildOnnx({
      initializers: [
        tensorProto({ name: 'floats', dims: [4], dataType: 1, floatData: f32Bytes([0.5, -1, 2, 3]) }),
        tensorProto({ name: 'doubles', dims: [1, 2], dataType: 11, doubleData: counting(16, 1) }),
        tensorProto({ name: 'ints', dims: [3], dataType: 6, int32Data: [1, -1, 300] }),
        tensorProto({ name: 'fnuz', dims: [4], dataType: 18, raw: counting(4, 2) }),
        tensorProto({ name: 'bf', dims: [2], dataType: 16, raw: counting(4, 5) }),
      ],
    }),
  },
  {
    name: 'constants-and-external.onnx',
    bytes: buildOnnx({
      irVersion: 7,
      nodes: [
        constantNode('const_w', tensorProto({ dims: [2], dataType: 1, raw: f32Bytes([7, 8]) })),
        constantNode('const_named', tensorProto({ name: 'own', dims: [1], dataType: 3, raw: counting(1) })),
        opNode(['const_w', 'big'], 'out', 'Mul'),
      ],
      initializers: [
        tensorProto({
          name: 'big',
          dims: [1024],
          dataType: 1,
          external: { location: 'big.bin', offset: 0, length: 4096 },
        }),
        tensorProto({ name: 'own', dims: [2], dataType: 2, raw: counting(2, 9) }),
      ],
      graphExtra: lField(11, 'io-info'),
    }),
  },
];

/** A model with three external tensors in `model.onnx.data` (64-byte aligned, as onnx writes them) and one inline. */
export const EXTERNAL_MODEL = buildOnnx({
  initializers: [
    tensorProto({
      name: 'w',
      dims: [8, 8],
      dataType: 1,
      external: { location: 'model.onnx.data', offset: 0, length: 256 },
    }),
    tensorProto({
      name: 'h',
      dims: [10],
      dataType: 10,
      external: { location: 'model.onnx.data', offset: 256, length: 20 },
    }),
    tensorProto({
      name: 'q',
      dims: [7],
      dataType: 22,
      external: { location: 'model.onnx.data', offset: 320, length: 4 },
    }),
    tensorProto({ name: 'other', dims: [1], dataType: 1, external: { location: 'other.bin', offset: 0, length: 4 } }),
    tensorProto({ name: 'inline', dims: [2], dataType: 1, raw: f32Bytes([1, 2]) }),
  ],
});
/** The bytes of `model.onnx.data` for EXTERNAL_MODEL. */
export const EXTERNAL_DATA = counting(324, 5);
