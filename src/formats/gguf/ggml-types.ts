// The ggml tensor types a GGUF file may declare, with their block sizes: plain numbers map to a Weft dtype,
// quantized types are opaque blocks of `blockBytes` bytes per `blockElements` elements. Pure table, no I/O.

import type { Dtype } from '../../tensor/dtype.js';

export interface GgmlType {
  name: string;
  /** Elements per block (1 for plain types). */
  blockElements: number;
  /** Bytes per block. */
  blockBytes: number;
  /** The Weft dtype of a plain type; absent for quantized types (stored as opaque U8 blocks). */
  dtype?: Dtype;
}

const QK_K = 256;

/**
 * ggml_type enum values (ggml.h) → traits, checked against gguf-py 0.19.0's GGML_QUANT_SIZES. Gaps are types removed
 * from GGUF (4, 5, 31–33, 36–38). Q8_1 is 36 bytes as in ggml-common.h (two halves + 32 quants; gguf-py still says 40).
 */
export const GGML_TYPES: ReadonlyMap<number, GgmlType> = new Map<number, GgmlType>([
  [0, { name: 'F32', blockElements: 1, blockBytes: 4, dtype: 'F32' }],
  [1, { name: 'F16', blockElements: 1, blockBytes: 2, dtype: 'F16' }],
  [2, { name: 'Q4_0', blockElements: 32, blockBytes: 18 }],
  [3, { name: 'Q4_1', blockElements: 32, blockBytes: 20 }],
  [6, { name: 'Q5_0', blockElements: 32, blockBytes: 22 }],
  [7, { name: 'Q5_1', blockElements: 32, blockBytes: 24 }],
  [8, { name: 'Q8_0', blockElements: 32, blockBytes: 34 }],
  [9, { name: 'Q8_1', blockElements: 32, blockBytes: 36 }],
  [10, { name: 'Q2_K', blockElements: QK_K, blockBytes: 84 }],
  [11, { name: 'Q3_K', blockElements: QK_K, blockBytes: 110 }],
  [12, { name: 'Q4_K', blockElements: QK_K, blockBytes: 144 }],
  [13, { name: 'Q5_K', blockElements: QK_K, blockBytes: 176 }],
  [14, { name: 'Q6_K', blockElements: QK_K, blockBytes: 210 }],
  [15, { name: 'Q8_K', blockElements: QK_K, blockBytes: 292 }],
  [16, { name: 'IQ2_XXS', blockElements: QK_K, blockBytes: 66 }],
  [17, { name: 'IQ2_XS', blockElements: QK_K, blockBytes: 74 }],
  [18, { name: 'IQ3_XXS', blockElements: QK_K, blockBytes: 98 }],
  [19, { name: 'IQ1_S', blockElements: QK_K, blockBytes: 50 }],
  [20, { name: 'IQ4_NL', blockElements: 32, blockBytes: 18 }],
  [21, { name: 'IQ3_S', blockElements: QK_K, blockBytes: 110 }],
  [22, { name: 'IQ2_S', blockElements: QK_K, blockBytes: 82 }],
  [23, { name: 'IQ4_XS', blockElements: QK_K, blockBytes: 136 }],
  [24, { name: 'I8', blockElements: 1, blockBytes: 1, dtype: 'I8' }],
  [25, { name: 'I16', blockElements: 1, blockBytes: 2, dtype: 'I16' }],
  [26, { name: 'I32', blockElements: 1, blockBytes: 4, dtype: 'I32' }],
  [27, { name: 'I64', blockElements: 1, blockBytes: 8, dtype: 'I64' }],
  [28, { name: 'F64', blockElements: 1, blockBytes: 8, dtype: 'F64' }],
  [29, { name: 'IQ1_M', blockElements: QK_K, blockBytes: 56 }],
  [30, { name: 'BF16', blockElements: 1, blockBytes: 2, dtype: 'BF16' }],
  [34, { name: 'TQ1_0', blockElements: QK_K, blockBytes: 54 }],
  [35, { name: 'TQ2_0', blockElements: QK_K, blockBytes: 66 }],
  [39, { name: 'MXFP4', blockElements: 32, blockBytes: 17 }],
  [40, { name: 'NVFP4', blockElements: 64, blockBytes: 36 }],
  [41, { name: 'Q1_0', blockElements: 128, blockBytes: 18 }],
]);
