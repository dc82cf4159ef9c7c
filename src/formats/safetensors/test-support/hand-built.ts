// Builds safetensors test files byte by byte with DataView and TextEncoder from header text written out in full.
// Test-only; must never use write-safetensors.ts (a writer bug must not hide itself in its own fixtures).

const encoder = new TextEncoder();

export interface HandBuiltOptions {
  /** Length written in the 8-byte prefix instead of the header's real length. */
  declaredLength?: bigint;
  /** Data buffer: these bytes, or this many bytes counting 0, 1, 2, … (mod 256). Default none. */
  data?: Uint8Array | number;
}

/** `u64le(len(header)) + header + data`, with `header` exactly as given (padding included). */
export function handBuilt(header: string | Uint8Array, options: HandBuiltOptions = {}): Uint8Array {
  const headerBytes = typeof header === 'string' ? encoder.encode(header) : header;
  const data =
    typeof options.data === 'number'
      ? Uint8Array.from({ length: options.data }, (_, i) => i & 0xff)
      : (options.data ?? new Uint8Array(0));
  const out = new Uint8Array(8 + headerBytes.length + data.length);
  new DataView(out.buffer).setBigUint64(0, options.declaredLength ?? BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  out.set(data, 8 + headerBytes.length);
  return out;
}

/** Valid files covering the format's corners, each with its header text spelled out. */
export const HAND_BUILT_VALID: readonly { name: string; bytes: Uint8Array }[] = [
  { name: 'empty-header.safetensors', bytes: handBuilt('{}') },
  { name: 'empty-padded.safetensors', bytes: handBuilt('{}      ') },
  {
    name: 'one.safetensors',
    bytes: handBuilt('{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}      ', { data: 16 }),
  },
  {
    name: 'metadata-only.safetensors',
    bytes: handBuilt('{"__metadata__":{"format":"pt"}}'),
  },
  {
    // Header order differs from data order; an empty tensor sits between two others; a scalar has shape [].
    name: 'mixed.safetensors',
    bytes: handBuilt(
      '{"z":{"dtype":"U8","shape":[3],"data_offsets":[20,23]},' +
        '"__metadata__":{"b":"2","a":"1"},' +
        '"empty":{"dtype":"F64","shape":[0,5],"data_offsets":[16,16]},' +
        '"a":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},' +
        '"s":{"dtype":"F32","shape":[],"data_offsets":[16,20]}}',
      { data: 23 },
    ),
  },
  {
    // Every dtype once, back to back, with whitespace and newlines a pretty-printer would add.
    name: 'all-dtypes.safetensors',
    bytes: handBuilt(
      `{
  "f64": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]},
  "i64": {"dtype": "I64", "shape": [1], "data_offsets": [8, 16]},
  "u64": {"dtype": "U64", "shape": [1], "data_offsets": [16, 24]},
  "f32": {"dtype": "F32", "shape": [1], "data_offsets": [24, 28]},
  "i32": {"dtype": "I32", "shape": [1], "data_offsets": [28, 32]},
  "u32": {"dtype": "U32", "shape": [1], "data_offsets": [32, 36]},
  "f16": {"dtype": "F16", "shape": [1], "data_offsets": [36, 38]},
  "bf16": {"dtype": "BF16", "shape": [1], "data_offsets": [38, 40]},
  "i16": {"dtype": "I16", "shape": [1], "data_offsets": [40, 42]},
  "u16": {"dtype": "U16", "shape": [1], "data_offsets": [42, 44]},
  "e4m3": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [44, 45]},
  "e5m2": {"dtype": "F8_E5M2", "shape": [1], "data_offsets": [45, 46]},
  "i8": {"dtype": "I8", "shape": [1], "data_offsets": [46, 47]},
  "u8": {"dtype": "U8", "shape": [1], "data_offsets": [47, 48]},
  "bool": {"dtype": "BOOL", "shape": [1], "data_offsets": [48, 49]}
}
`,
      { data: 49 },
    ),
  },
  {
    // Names a plain object would mistake for its own machinery, non-ASCII names, an ignored extra key.
    name: 'odd-names.safetensors',
    bytes: handBuilt(
      '{"__proto__":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},' +
        '"constructor":{"dtype":"U8","shape":[1],"data_offsets":[1,2],"extra":{"x":[1]}},' +
        '"poids.é":{"dtype":"U8","shape":[1],"data_offsets":[2,3]},' +
        '"\\u0077\\ud83d\\ude00":{"dtype":"U8","shape":[1],"data_offsets":[3,4]}}',
      { data: 4 },
    ),
  },
];
