// Builds ZIP files byte by byte with DataView for tests: stored or "deflated" entries (bytes given as is), optional
// ZIP64 records and torch-style alignment padding. Test-only; the readers under test never write zips.

const encoder = new TextEncoder();

export interface TestZipEntry {
  name: string;
  /** The entry's data exactly as stored (already compressed when `method` is 8). */
  data: Uint8Array;
  /** 0 stored (default), 8 deflate. */
  method?: number;
  /** Uncompressed size to declare (default `data.length`). */
  uncompressedSizeBytes?: number;
  /** Pad the local extra field so the data starts at a multiple of this (torch aligns to 64). */
  align?: number;
  /** Write ZIP64 extra fields with saturated 32-bit sizes and offset. */
  zip64?: boolean;
}

export interface TestZipOptions {
  /** Also write the ZIP64 end record and locator, with saturated fields in the classic end record. */
  zip64End?: boolean;
  comment?: string;
}

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

function concatAll(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A zip file holding `entries` in order, then its central directory and end record(s). */
export function buildZip(entries: readonly TestZipEntry[], options: TestZipOptions = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let at = 0;
  for (const e of entries) {
    const name = encoder.encode(e.name);
    const method = e.method ?? 0;
    const usize = e.uncompressedSizeBytes ?? e.data.length;
    const crc = crc32(e.data);
    const zip64Local = e.zip64 ? 20 : 0;
    let pad = 0;
    if (e.align) {
      const base = at + 30 + name.length + zip64Local;
      pad = (e.align - ((base + 4) % e.align)) % e.align;
      pad += 4;
    }
    const local = new Uint8Array(30 + name.length + zip64Local + pad);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, e.zip64 ? 45 : 20, true);
    lv.setUint16(6, 0x0800, true);
    lv.setUint16(8, method, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, e.zip64 ? 0xffffffff : e.data.length, true);
    lv.setUint32(22, e.zip64 ? 0xffffffff : usize, true);
    lv.setUint16(26, name.length, true);
    lv.setUint16(28, zip64Local + pad, true);
    local.set(name, 30);
    let x = 30 + name.length;
    if (e.zip64) {
      lv.setUint16(x, 0x0001, true);
      lv.setUint16(x + 2, 16, true);
      lv.setBigUint64(x + 4, BigInt(usize), true);
      lv.setBigUint64(x + 12, BigInt(e.data.length), true);
      x += 20;
    }
    if (pad > 0) {
      lv.setUint16(x, 0x4246, true); // "FB": the padding extra field torch writes
      lv.setUint16(x + 2, pad - 4, true);
    }
    const offset = at;
    parts.push(local, e.data);
    at += local.length + e.data.length;

    const zip64Central = e.zip64 ? 28 : 0;
    const c = new Uint8Array(46 + name.length + zip64Central);
    const cv = new DataView(c.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 0x031e, true);
    cv.setUint16(6, e.zip64 ? 45 : 20, true);
    cv.setUint16(8, 0x0800, true);
    cv.setUint16(10, method, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, e.zip64 ? 0xffffffff : e.data.length, true);
    cv.setUint32(24, e.zip64 ? 0xffffffff : usize, true);
    cv.setUint16(28, name.length, true);
    cv.setUint16(30, zip64Central, true);
    cv.setUint32(42, e.zip64 ? 0xffffffff : offset, true);
    c.set(name, 46);
    if (e.zip64) {
      const y = 46 + name.length;
      cv.setUint16(y, 0x0001, true);
      cv.setUint16(y + 2, 24, true);
      cv.setBigUint64(y + 4, BigInt(usize), true);
      cv.setBigUint64(y + 12, BigInt(e.data.length), true);
      cv.setBigUint64(y + 20, BigInt(offset), true);
    }
    central.push(c);
  }
  const cdOffset = at;
  const cd = concatAll(central);
  at += cd.length;
  const tailParts: Uint8Array[] = [];
  if (options.zip64End) {
    const z = new Uint8Array(56 + 20);
    const zv = new DataView(z.buffer);
    zv.setUint32(0, 0x06064b50, true);
    zv.setBigUint64(4, 44n, true);
    zv.setUint16(12, 45, true);
    zv.setUint16(14, 45, true);
    zv.setBigUint64(24, BigInt(entries.length), true);
    zv.setBigUint64(32, BigInt(entries.length), true);
    zv.setBigUint64(40, BigInt(cd.length), true);
    zv.setBigUint64(48, BigInt(cdOffset), true);
    zv.setUint32(56, 0x07064b50, true);
    zv.setBigUint64(64, BigInt(at), true);
    zv.setUint32(72, 1, true);
    tailParts.push(z);
  }
  const comment = encoder.encode(options.comment ?? '');
  const end = new Uint8Array(22 + comment.length);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, options.zip64End ? 0xffff : entries.length, true);
  ev.setUint16(10, options.zip64End ? 0xffff : entries.length, true);
  ev.setUint32(12, options.zip64End ? 0xffffffff : cd.length, true);
  ev.setUint32(16, options.zip64End ? 0xffffffff : cdOffset, true);
  ev.setUint16(20, comment.length, true);
  end.set(comment, 22);
  return concatAll([...parts, cd, ...tailParts, end]);
}
