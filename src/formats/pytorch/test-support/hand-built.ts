// Builds pickles opcode by opcode and torch.save-style zips around them, for tests. Test-only: every byte is spelled
// out here (opcodes as numbers, lengths with DataView), so a bug in the interpreter cannot hide in its fixtures.

import { buildZip, type TestZipEntry } from '../../zip/test-support/build-zip.js';

const encoder = new TextEncoder();
type Bytes = readonly number[];

function u32le(n: number): number[] {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return [...b];
}

/** Pickle opcodes and small encoders, each returning the bytes of one opcode with its argument. */
export const P = {
  proto: (v = 2): Bytes => [0x80, v],
  frame: (n: number): Bytes => {
    const b = new Uint8Array(9);
    b[0] = 0x95;
    new DataView(b.buffer).setBigUint64(1, BigInt(n), true);
    return [...b];
  },
  stop: [0x2e] as Bytes,
  mark: [0x28] as Bytes,
  none: [0x4e] as Bytes,
  true: [0x88] as Bytes,
  false: [0x89] as Bytes,
  emptyDict: [0x7d] as Bytes,
  emptyList: [0x5d] as Bytes,
  emptyTuple: [0x29] as Bytes,
  tuple: [0x74] as Bytes,
  tuple1: [0x85] as Bytes,
  tuple2: [0x86] as Bytes,
  tuple3: [0x87] as Bytes,
  setitem: [0x73] as Bytes,
  setitems: [0x75] as Bytes,
  append: [0x61] as Bytes,
  appends: [0x65] as Bytes,
  reduce: [0x52] as Bytes,
  build: [0x62] as Bytes,
  binpersid: [0x51] as Bytes,
  memoize: [0x94] as Bytes,
  stackGlobal: [0x93] as Bytes,
  newobj: [0x81] as Bytes,
  put: (i: number): Bytes => [0x71, i],
  get: (i: number): Bytes => [0x68, i],
  /** BININT1 / BININT2 / BININT for non-negative ints, BININT for negative ones. */
  int: (n: number): Bytes => {
    if (n >= 0 && n < 0x100) return [0x4b, n];
    if (n >= 0 && n < 0x10000) return [0x4d, n & 0xff, n >> 8];
    const b = new Uint8Array(5);
    b[0] = 0x4a;
    new DataView(b.buffer).setInt32(1, n, true);
    return [...b];
  },
  long1: (bytes: Bytes): Bytes => [0x8a, bytes.length, ...bytes],
  float: (x: number): Bytes => {
    const b = new Uint8Array(9);
    b[0] = 0x47;
    new DataView(b.buffer).setFloat64(1, x, false);
    return [...b];
  },
  /** BINUNICODE (protocol 2 strings). */
  str: (s: string): Bytes => {
    const t = encoder.encode(s);
    return [0x58, ...u32le(t.length), ...t];
  },
  /** SHORT_BINUNICODE (protocol 4). */
  shortStr: (s: string): Bytes => {
    const t = encoder.encode(s);
    return [0x8c, t.length, ...t];
  },
  global: (module: string, name: string): Bytes => [0x63, ...encoder.encode(`${module}\n${name}\n`)],
};

/** Concatenates opcode byte lists into one pickle. */
export function pickle(...parts: Bytes[]): Uint8Array {
  return Uint8Array.from(parts.flat());
}

/**
 * The opcodes of `_rebuild_tensor_v2(persistent_load(('storage', torch.<type>, key, 'cpu', numel)), offset, shape,
 * strides, False, OrderedDict())`, as torch.save writes them (without memo puts).
 */
export function tensorOps(options: {
  storageType: string;
  key: string;
  numel: number;
  offset?: number;
  shape: readonly number[];
  strides: readonly number[];
}): Bytes {
  const ints = (xs: readonly number[]): Bytes => [...P.mark, ...xs.flatMap((x) => [...P.int(x)]), ...P.tuple];
  return [
    ...P.global('torch._utils', '_rebuild_tensor_v2'),
    ...P.mark,
    ...P.mark,
    ...P.str('storage'),
    ...P.global('torch', options.storageType),
    ...P.str(options.key),
    ...P.str('cpu'),
    ...P.int(options.numel),
    ...P.tuple,
    ...P.binpersid,
    ...P.int(options.offset ?? 0),
    ...ints(options.shape),
    ...ints(options.strides),
    ...P.false,
    ...P.global('collections', 'OrderedDict'),
    ...P.emptyTuple,
    ...P.reduce,
    ...P.tuple,
    ...P.reduce,
  ];
}

export interface TorchZipOptions {
  /** The archive's root folder (default `archive`). */
  root?: string;
  pickle: Uint8Array;
  /** Storage data by key, written as `<root>/data/<key>` in key order (as torch.save does). */
  storages?: Record<string, Uint8Array>;
  /** Writes `<root>/byteorder` with this text. */
  byteorder?: string;
  /** Data alignment of entries (torch uses 64); none when 0. */
  align?: number;
  /** ZIP64 extra fields on every entry. */
  zip64?: boolean;
}

/** A torch.save-style zip: data.pkl, byteorder, the storages, version. */
export function torchZip(options: TorchZipOptions): Uint8Array {
  const root = options.root ?? 'archive';
  const align = options.align ?? 64;
  const extra = { ...(align ? { align } : {}), ...(options.zip64 ? { zip64: true } : {}) };
  const entries: TestZipEntry[] = [{ name: `${root}/data.pkl`, data: options.pickle, ...extra }];
  if (options.byteorder !== undefined) {
    entries.push({ name: `${root}/byteorder`, data: encoder.encode(options.byteorder), ...extra });
  }
  for (const key of Object.keys(options.storages ?? {}).sort()) {
    entries.push({ name: `${root}/data/${key}`, data: options.storages![key]!, ...extra });
  }
  entries.push({ name: `${root}/version`, data: encoder.encode('3\n'), ...extra });
  return buildZip(entries);
}

/** `n` float32 values 0, 1, 2, … as little-endian bytes (or big-endian when `bigEndian`). */
export function f32Bytes(n: number, bigEndian = false): Uint8Array {
  const out = new Uint8Array(4 * n);
  const v = new DataView(out.buffer);
  for (let i = 0; i < n; i++) v.setFloat32(4 * i, i, !bigEndian);
  return out;
}

/** A state dict `{'w': f32[2,3], 'wt': w.t() (shared storage), 'b': f32[3]}` with torch's layout. */
export function simpleStateDict(options: { root?: string; byteorder?: string; zip64?: boolean } = {}): Uint8Array {
  const bigEndian = options.byteorder === 'big';
  const pkl = pickle(
    P.proto(2),
    P.emptyDict,
    P.mark,
    P.str('w'),
    tensorOps({ storageType: 'FloatStorage', key: '0', numel: 6, shape: [2, 3], strides: [3, 1] }),
    P.str('wt'),
    tensorOps({ storageType: 'FloatStorage', key: '0', numel: 6, shape: [3, 2], strides: [1, 3] }),
    P.str('b'),
    tensorOps({ storageType: 'FloatStorage', key: '1', numel: 3, shape: [3], strides: [1] }),
    P.setitems,
    P.stop,
  );
  return torchZip({
    pickle: pkl,
    storages: { '0': f32Bytes(6, bigEndian), '1': f32Bytes(3, bigEndian) },
    ...(options.root ? { root: options.root } : {}),
    ...(options.byteorder ? { byteorder: options.byteorder } : {}),
    ...(options.zip64 ? { zip64: true } : {}),
  });
}
