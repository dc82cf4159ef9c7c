// Builds GGUF test files byte by byte with DataView: header, typed KVs, tensor infos, padding and data, with knobs
// to make any count or length lie. Test-only; independent of the parser it tests.

const encoder = new TextEncoder();

/** A metadata value: its GGUF type id and a writer of its bytes (after the type). */
export interface KvValue {
  type: number;
  write(w: Writer): void;
}

export class Writer {
  private chunks: number[] = [];
  get length(): number {
    return this.chunks.length;
  }
  u8(v: number): this {
    this.chunks.push(v & 0xff);
    return this;
  }
  bytes(b: Uint8Array | readonly number[]): this {
    for (const x of b) this.chunks.push(x);
    return this;
  }
  private dv(size: number, set: (d: DataView) => void): this {
    const b = new Uint8Array(size);
    set(new DataView(b.buffer));
    return this.bytes(b);
  }
  u16(v: number): this {
    return this.dv(2, (d) => d.setUint16(0, v, true));
  }
  u32(v: number): this {
    return this.dv(4, (d) => d.setUint32(0, v, true));
  }
  i32(v: number): this {
    return this.dv(4, (d) => d.setInt32(0, v, true));
  }
  f32(v: number): this {
    return this.dv(4, (d) => d.setFloat32(0, v, true));
  }
  f64(v: number): this {
    return this.dv(8, (d) => d.setFloat64(0, v, true));
  }
  u64(v: bigint | number): this {
    return this.dv(8, (d) => d.setBigUint64(0, BigInt(v), true));
  }
  i64(v: bigint | number): this {
    return this.dv(8, (d) => d.setBigInt64(0, BigInt(v), true));
  }
  str(s: string, declared?: bigint): this {
    const b = encoder.encode(s);
    return this.u64(declared ?? BigInt(b.length)).bytes(b);
  }
  pad(alignment: number, byte = 0): this {
    while (this.chunks.length % alignment !== 0) this.chunks.push(byte);
    return this;
  }
  done(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
}

export const kv = {
  u8: (v: number): KvValue => ({ type: 0, write: (w) => w.u8(v) }),
  i8: (v: number): KvValue => ({ type: 1, write: (w) => w.u8(v) }),
  u16: (v: number): KvValue => ({ type: 2, write: (w) => w.u16(v) }),
  i16: (v: number): KvValue => ({ type: 3, write: (w) => w.u16(v) }),
  u32: (v: number): KvValue => ({ type: 4, write: (w) => w.u32(v) }),
  i32: (v: number): KvValue => ({ type: 5, write: (w) => w.i32(v) }),
  f32: (v: number): KvValue => ({ type: 6, write: (w) => w.f32(v) }),
  bool: (v: boolean): KvValue => ({ type: 7, write: (w) => w.u8(v ? 1 : 0) }),
  str: (v: string): KvValue => ({ type: 8, write: (w) => w.str(v) }),
  u64: (v: bigint): KvValue => ({ type: 10, write: (w) => w.u64(v) }),
  i64: (v: bigint): KvValue => ({ type: 11, write: (w) => w.i64(v) }),
  f64: (v: number): KvValue => ({ type: 12, write: (w) => w.f64(v) }),
  /** An array of items of one type (items written without their type). */
  array: (itemType: number, items: readonly KvValue[], declaredLength?: bigint): KvValue => ({
    type: 9,
    write: (w) => {
      w.u32(itemType).u64(declaredLength ?? BigInt(items.length));
      for (const item of items) item.write(w);
    },
  }),
};

export interface TensorSpec {
  name: string;
  /** ggml dims, fastest-varying first (ne[0], ne[1], …). */
  dims: readonly (number | bigint)[];
  type: number;
  /** Bytes of data; its length decides the padded offset of the next tensor. */
  data: Uint8Array;
  /** Offset to declare instead of the computed one. */
  offset?: bigint;
}

export interface GgufSpec {
  version?: number;
  kvs?: readonly [string, KvValue][];
  tensors?: readonly TensorSpec[];
  alignment?: number;
  /** Counts to declare instead of the real ones. */
  tensorCount?: bigint;
  kvCount?: bigint;
  /** Skip the padding after the last tensor. */
  noFinalPadding?: boolean;
}

/** Counting bytes 0, 1, 2, … (mod 251) so that every tensor's bytes differ. */
export function counting(n: number, start = 0): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (start + i) % 251);
}

/** A whole GGUF file as llama.cpp's writer lays it out: every tensor padded to the alignment. */
export function buildGguf(spec: GgufSpec): Uint8Array {
  const alignment = spec.alignment ?? 32;
  const tensors = spec.tensors ?? [];
  const kvs = spec.kvs ?? [];
  const w = new Writer();
  w.bytes([0x47, 0x47, 0x55, 0x46]).u32(spec.version ?? 3);
  w.u64(spec.tensorCount ?? BigInt(tensors.length)).u64(spec.kvCount ?? BigInt(kvs.length));
  for (const [key, value] of kvs) {
    w.str(key).u32(value.type);
    value.write(w);
  }
  let offset = 0;
  for (const t of tensors) {
    w.str(t.name).u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(t.type).u64(t.offset ?? BigInt(offset));
    offset += Math.ceil(t.data.length / alignment) * alignment;
  }
  w.pad(alignment);
  tensors.forEach((t, i) => {
    w.bytes(t.data);
    if (i < tensors.length - 1 || !spec.noFinalPadding) w.pad(alignment);
  });
  return w.done();
}
