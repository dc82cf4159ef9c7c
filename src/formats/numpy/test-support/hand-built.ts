// Builds `.npy` files byte by byte for tests: magic, version, DataView-written header length, the header text exactly
// as given or as numpy pads it (spaces and a newline to a multiple of 64), then the data. Test-only.

const encoder = new TextEncoder();

export interface NpyOptions {
  /** The whole header text; default: numpy's dict for descr/fortran/shape. */
  header?: string;
  descr?: string;
  fortran?: boolean;
  shape?: readonly number[];
  /** Data bytes, or this many bytes counting 0, 1, 2, … */
  data?: Uint8Array | number;
  /** 1 (u16 header length), 2 or 3 (u32). */
  version?: number;
  /** Declared header length instead of the real one. */
  declaredLength?: number;
}

/** numpy's header dict text for these fields, e.g. `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`. */
export function npyDict(descr: string, fortran: boolean, shape: readonly number[]): string {
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  return `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': ${dims}, }`;
}

/** A `.npy` file. */
export function npy(options: NpyOptions = {}): Uint8Array {
  const version = options.version ?? 1;
  const prefix = version === 1 ? 10 : 12;
  let header = options.header;
  if (header === undefined) {
    header = npyDict(options.descr ?? '<f4', options.fortran ?? false, options.shape ?? [2, 2]);
    const total = prefix + header.length + 1;
    header += `${' '.repeat((64 - (total % 64)) % 64)}\n`;
  }
  const text = encoder.encode(header);
  const data =
    typeof options.data === 'number'
      ? Uint8Array.from({ length: options.data }, (_, i) => i & 0xff)
      : (options.data ?? new Uint8Array(16));
  const out = new Uint8Array(prefix + text.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, options.declaredLength ?? text.length, true);
  else view.setUint32(8, options.declaredLength ?? text.length, true);
  out.set(text, prefix);
  out.set(data, prefix + text.length);
  return out;
}
