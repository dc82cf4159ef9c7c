// Valid GGUF files covering the format's corners (every KV type, nested arrays, plain and quantized tensors,
// custom alignment, v2), built with build-gguf.ts. Test-only.

import { buildGguf, counting, kv } from './build-gguf.js';

export const GGUF_VALID: readonly { name: string; bytes: Uint8Array }[] = [
  { name: 'empty.gguf', bytes: buildGguf({}) },
  {
    name: 'all-kv-types.gguf',
    bytes: buildGguf({
      version: 2,
      kvs: [
        ['general.architecture', kv.str('llama')],
        ['u8', kv.u8(200)],
        ['i8', kv.i8(-3)],
        ['u16', kv.u16(65535)],
        ['i16', kv.i16(-2)],
        ['u32', kv.u32(4_000_000_000)],
        ['i32', kv.i32(-7)],
        ['f32', kv.f32(0.1)],
        ['bool', kv.bool(true)],
        ['u64', kv.u64(2n ** 63n)],
        ['i64', kv.i64(-(2n ** 40n))],
        ['f64', kv.f64(1e-300)],
        ['ints', kv.array(5, [kv.i32(1), kv.i32(-2), kv.i32(3)])],
        [
          'tokens',
          kv.array(
            8,
            Array.from({ length: 20 }, (_, i) => kv.str(`tok${i}`)),
          ),
        ],
        ['nested', kv.array(9, [kv.array(4, [kv.u32(1)]), kv.array(8, [kv.str('a'), kv.str('')])])],
        ['empty', kv.array(6, [])],
      ],
      tensors: [{ name: 'w', dims: [3, 2], type: 0, data: counting(24) }],
    }),
  },
  {
    // Plain and quantized tensors, 64-byte alignment, data order different from info order, a 0-d tensor.
    name: 'mixed-types.gguf',
    bytes: buildGguf({
      kvs: [
        ['general.alignment', kv.u32(64)],
        ['general.name', kv.str('tiny')],
      ],
      alignment: 64,
      tensors: [
        { name: 'blk.0.attn_q.weight', dims: [256, 2], type: 12, data: counting(288, 1) },
        { name: 'blk.0.ffn.weight', dims: [32, 3], type: 8, data: counting(102, 2) },
        { name: 'norm', dims: [4], type: 1, data: counting(8, 3) },
        { name: 'bf', dims: [2, 2], type: 30, data: counting(8, 4) },
        { name: 'i8', dims: [5], type: 24, data: counting(5, 5) },
        { name: 'scalar', dims: [], type: 28, data: counting(8, 6) },
        { name: 'ternary', dims: [256], type: 34, data: counting(54, 7) },
      ],
    }),
  },
  {
    name: 'unpadded-end.gguf',
    bytes: buildGguf({
      tensors: [
        { name: 'a', dims: [3], type: 0, data: counting(12) },
        { name: 'b', dims: [3], type: 26, data: counting(12, 9) },
      ],
      noFinalPadding: true,
    }),
  },
];
