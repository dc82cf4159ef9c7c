// Builds ONNX (protobuf) test files by hand: varints, tags and length-delimited fields written byte by byte.
// Test-only; independent of the parser it tests.

const encoder = new TextEncoder();
type Bytes = Uint8Array;

export function varint(v: number | bigint): Bytes {
  let n = BigInt.asUintN(64, BigInt(v));
  const out: number[] = [];
  do {
    const b = Number(n & 0x7fn);
    n >>= 7n;
    out.push(n > 0n ? b | 0x80 : b);
  } while (n > 0n);
  return Uint8Array.from(out);
}

export function concat(...parts: Bytes[]): Bytes {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Field `n` as a varint. */
export const vField = (n: number, v: number | bigint): Bytes => concat(varint(n * 8), varint(v));
/** Field `n` length-delimited (bytes, a string, or a message made of parts). */
export const lField = (n: number, payload: Bytes | string, declared?: number): Bytes => {
  const b = typeof payload === 'string' ? encoder.encode(payload) : payload;
  return concat(varint(n * 8 + 2), varint(declared ?? b.length), b);
};

export function f32Bytes(values: readonly number[]): Bytes {
  const b = new Uint8Array(values.length * 4);
  const d = new DataView(b.buffer);
  values.forEach((v, i) => {
    d.setFloat32(i * 4, v, true);
  });
  return b;
}

export interface TensorSpec {
  name?: string;
  dims: readonly (number | bigint)[];
  dataType: number;
  raw?: Bytes;
  /** Packed float_data (field 4) or double_data (field 10) payload. */
  floatData?: Bytes;
  doubleData?: Bytes;
  /** int32_data packed varints (field 5). */
  int32Data?: readonly number[];
  external?: { location: string; offset: number; length: number };
}

/** A TensorProto in field order (dims, data_type, typed data, name, raw_data, external_data, data_location). */
export function tensorProto(t: TensorSpec): Bytes {
  const parts: Bytes[] = [];
  if (t.dims.length > 0) parts.push(lField(1, concat(...t.dims.map((d) => varint(d)))));
  parts.push(vField(2, t.dataType));
  if (t.floatData) parts.push(lField(4, t.floatData));
  if (t.int32Data) parts.push(lField(5, concat(...t.int32Data.map((v) => varint(v)))));
  if (t.name !== undefined) parts.push(lField(8, t.name));
  if (t.raw) parts.push(lField(9, t.raw));
  if (t.doubleData) parts.push(lField(10, t.doubleData));
  if (t.external) {
    const kv = (k: string, v: string) => lField(13, concat(lField(1, k), lField(2, v)));
    parts.push(kv('location', t.external.location), kv('offset', String(t.external.offset)));
    parts.push(kv('length', String(t.external.length)), vField(14, 1));
  }
  return concat(...parts);
}

/** A Constant node whose `value` attribute holds `tensor`, with one output. */
export function constantNode(output: string, tensor: Bytes): Bytes {
  const attribute = concat(lField(1, 'value'), lField(5, tensor), vField(20, 4));
  return concat(lField(2, output), lField(4, 'Constant'), lField(5, attribute));
}

/** A plain node (no tensors). */
export function opNode(inputs: readonly string[], output: string, op: string): Bytes {
  return concat(...inputs.map((i) => lField(1, i)), lField(2, output), lField(4, op));
}

export interface ModelSpec {
  irVersion?: number;
  producer?: string;
  opset?: number;
  nodes?: readonly Bytes[];
  initializers?: readonly Bytes[];
  /** Extra graph fields (raw bytes appended to the graph message). */
  graphExtra?: Bytes;
}

/** A ModelProto: ir_version, producer_name, graph (nodes, name, initializers), opset_import. */
export function buildOnnx(m: ModelSpec): Bytes {
  const graph = concat(
    ...(m.nodes ?? []).map((n) => lField(1, n)),
    lField(2, 'g'),
    ...(m.initializers ?? []).map((t) => lField(5, t)),
    m.graphExtra ?? new Uint8Array(0),
  );
  return concat(
    vField(1, m.irVersion ?? 8),
    lField(2, m.producer ?? 'weft-test'),
    lField(7, graph),
    lField(8, concat(lField(1, ''), vField(2, m.opset ?? 13))),
  );
}

export const counting = (n: number, start = 0): Bytes => Uint8Array.from({ length: n }, (_, i) => (start + i) % 251);
