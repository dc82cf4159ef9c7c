// Tests for object-codec.ts: exact header and plane bytes, round trips (whole or in pieces), compression ratios,
// raw fallback, and every way stored bytes can be bad (tampered headers and planes, zstd bombs, truncation, fuzz).

import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StoreError } from '../errors.js';
import type { GroupWidth } from './byte-planes.js';
import {
  computeObjectId,
  decodeObject,
  decodeObjectSync,
  encodeObject,
  encodeObjectSync,
  MAX_OBJECT_RAW_BYTES,
  type ObjectId,
  parseObjectHeader,
  parseObjectId,
  validateObject,
} from './object-codec.js';
import { zstdCompress } from './zstd.js';
import { checkZstdFrame } from './zstd-frame.js';

/** Deterministic N(0, sigma) weights as bf16 (round to nearest even) or f32 little-endian bytes. */
function weights(count: number, dtype: 'BF16' | 'F32', seed = 1): Uint8Array {
  let state = seed >>> 0 || 1;
  const uniform = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return ((state >>> 0) + 0.5) / 4294967296;
  };
  const f32 = new Float32Array(count);
  for (let i = 0; i < count; i++)
    f32[i] = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()) * 0.02;
  if (dtype === 'F32') return new Uint8Array(f32.buffer);
  const bits = new Uint32Array(f32.buffer);
  const out = new Uint8Array(count * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < count; i++) {
    const x = bits[i]!;
    view.setUint16(i * 2, (x + 0x7fff + ((x >>> 16) & 1)) >>> 16, true);
  }
  return out;
}

function randomBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let state = seed;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state >>> 24;
  }
  return out;
}

/** A header built by hand: "WFT", version, codec, width, 2 reserved bytes, u64 LE raw length. */
function header(fields: { version?: number; codec?: number; width?: number; reserved?: number; rawLength: bigint }) {
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  bytes.set([0x57, 0x46, 0x54], 0);
  view.setUint8(3, fields.version ?? 1);
  view.setUint8(4, fields.codec ?? 0);
  view.setUint8(5, fields.width ?? 1);
  view.setUint16(6, fields.reserved ?? 0, true);
  view.setBigUint64(8, fields.rawLength, true);
  return bytes;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** The plane codecs (0 raw, 1 zstd) of a codec-2 object, read by hand. */
function planeCodecs(stored: Uint8Array): number[] {
  const view = new DataView(stored.buffer, stored.byteOffset, stored.byteLength);
  const codecs: number[] = [];
  for (let pos = 16, j = 0; j < stored[5]!; j++) {
    codecs.push(stored[pos]!);
    pos += 8 + view.getUint32(pos + 4, true);
  }
  return codecs;
}

/** A plane header built by hand: u8 codec, 3 reserved bytes, u32 LE stored length. */
function planeHeader(codec: number, length: number, reserved = 0): Uint8Array {
  const bytes = new Uint8Array(8);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, codec);
  view.setUint8(1, reserved);
  view.setUint32(4, length, true);
  return bytes;
}

function zstd(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(zstdCompress(bytes, 1));
}

/**
 * A zstd frame without a content size (as streaming encoders write them) of `blocks` RLE blocks of `blockBytes`
 * each: 4 bytes per block (RFC 8878: frame descriptor 0, window descriptor for 128 KiB).
 */
function rleBomb(blocks: number, blockBytes = 128 * 1024): Uint8Array {
  const out = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38];
  for (let b = 0; b < blocks; b++) {
    const h = (blockBytes << 3) | (1 << 1) | (b === blocks - 1 ? 1 : 0); // size, type RLE, last block
    out.push(h & 0xff, (h >>> 8) & 0xff, (h >>> 16) & 0xff, 0);
  }
  return Uint8Array.from(out);
}

/** Elements of `width` bytes whose byte j is random when `noisy[j]`, else a small value that compresses. */
function mixedPlanes(count: number, noisy: readonly boolean[], seed: number): Uint8Array {
  const width = noisy.length;
  const noise = randomBytes(count * width, seed);
  const out = new Uint8Array(count * width);
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < width; j++) out[i * width + j] = noisy[j] ? noise[i * width + j]! : noise[i * width + j]! & 3;
  }
  return out;
}

/** `bytes` cut into pieces at `cuts` (positions, any order, duplicates give empty pieces). */
function cutInto(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const at = [0, ...[...cuts].map((c) => Math.min(c, bytes.length)).sort((a, b) => a - b), bytes.length];
  return at.slice(1).map((end, k) => bytes.slice(at[k], end));
}

async function corruptError(promise: Promise<unknown>): Promise<StoreError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StoreError);
  expect((error as StoreError).code).toBe('STORE_CORRUPT');
  return error as StoreError;
}

describe('encodeObject / decodeObject', () => {
  it('writes the exact header and keeps tiny objects tiny', async () => {
    const empty = await encodeObject(new Uint8Array(0), 2);
    expect([...empty]).toEqual([...header({ rawLength: 0n })]);
    const eight = await encodeObject(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), 2);
    expect([...eight]).toEqual([...header({ rawLength: 8n }), 1, 2, 3, 4, 5, 6, 7, 8]);
    expect([...(await decodeObject(eight))]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('round-trips every width and odd length, compressible or not', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<GroupWidth>(1, 2, 4, 8),
        fc.nat({ max: 3000 }),
        fc.boolean(),
        fc.nat(),
        async (width, length, compressible, seed) => {
          const raw = compressible ? randomBytes(length, seed).map((b) => b & 3) : randomBytes(length, seed);
          const stored = await encodeObject(raw, width);
          const decoded = await decodeObject(stored, {
            expectedId: computeObjectId(stored),
            expectedRawLength: length,
          });
          expect(Buffer.from(decoded).equals(Buffer.from(raw))).toBe(true);
          const parsed = parseObjectHeader(stored);
          expect(parsed.rawLength).toBe(length);
          if (parsed.codec === 'zstd') expect(parsed.groupWidth).toBe(length % width === 0 ? width : 1);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('byte-groups and compresses weights (bf16 ~1.46×, f32 ~1.19×) through the thread pool path', async () => {
    const bf16 = weights(256 * 1024, 'BF16');
    const storedBf16 = await encodeObject(bf16, 2);
    expect(parseObjectHeader(storedBf16)).toEqual({ codec: 'planes', groupWidth: 2, rawLength: bf16.length });
    // The mantissa plane does not compress and is stored raw; the exponent plane is a zstd frame.
    expect(planeCodecs(storedBf16)).toEqual([0, 1]);
    expect(bf16.length / storedBf16.length).toBeGreaterThan(1.4);
    expect(Buffer.from(await decodeObject(storedBf16)).equals(Buffer.from(bf16))).toBe(true);

    const f32 = weights(128 * 1024, 'F32');
    const storedF32 = await encodeObject(f32, 4);
    expect(parseObjectHeader(storedF32).groupWidth).toBe(4);
    expect(f32.length / storedF32.length).toBeGreaterThan(1.15);
    // An unaligned view takes the byte-loop path and must give the same object.
    const shifted = new Uint8Array(f32.length + 1).subarray(1);
    shifted.set(f32);
    expect(Buffer.from(await encodeObject(shifted, 4)).equals(Buffer.from(storedF32))).toBe(true);
    expect(Buffer.from(await decodeObject(storedF32)).equals(Buffer.from(f32))).toBe(true);
  });

  it('keeps concurrent large encodes apart (their byte-plane buffers are reused)', async () => {
    const inputs = Array.from({ length: 8 }, (_, k) => weights(100_000, 'BF16', k + 1));
    for (let round = 0; round < 2; round++) {
      const stored = await Promise.all(inputs.map((raw) => encodeObject(raw, 2)));
      const decoded = await Promise.all(stored.map((bytes) => decodeObject(bytes)));
      for (const [k, bytes] of decoded.entries()) expect(Buffer.from(bytes).equals(Buffer.from(inputs[k]!))).toBe(true);
    }
  });

  it('stores incompressible bytes raw (codec 0, width 1)', async () => {
    const raw = randomBytes(200_000, 42);
    const stored = await encodeObject(raw, 4);
    expect(stored.length).toBe(16 + raw.length);
    expect(parseObjectHeader(stored)).toEqual({ codec: 'raw', groupWidth: 1, rawLength: raw.length });
    expect(Buffer.from(stored.subarray(16)).equals(Buffer.from(raw))).toBe(true);
  });

  it('reads the raw length from the 16 header bytes alone; validateObject needs the whole object', async () => {
    const stored = await encodeObject(weights(4096, 'BF16'), 2);
    const head = stored.subarray(0, 16);
    expect(parseObjectHeader(head)).toEqual({ codec: 'planes', groupWidth: 2, rawLength: 8192 });
    expect(validateObject(stored)).toEqual({ codec: 'planes', groupWidth: 2, rawLength: 8192 });
    expect(() => validateObject(head)).toThrow(/plane 0 header is truncated/);
    const raw = await encodeObject(Uint8Array.of(1, 2, 3), 1);
    expect(() => validateObject(raw.subarray(0, 18))).toThrow(/raw payload has 2 bytes/);
  });

  it('falls back to width 1 when the length is not a multiple of the width', async () => {
    const raw = new Uint8Array(1001).fill(7);
    expect(parseObjectHeader(await encodeObject(raw, 4))).toEqual({ codec: 'zstd', groupWidth: 1, rawLength: 1001 });
  });

  it('rejects bad arguments with RangeError', async () => {
    await expect(encodeObject(new Uint8Array(4), 3 as GroupWidth)).rejects.toThrow(RangeError);
    const huge = Object.defineProperty(new Uint8Array(0), 'length', { value: MAX_OBJECT_RAW_BYTES + 1 });
    await expect(encodeObject(huge, 1)).rejects.toThrow(/MAX_OBJECT_RAW_BYTES/);
    const halves = [huge, new Uint8Array(1)];
    await expect(encodeObject(halves, 2)).rejects.toThrow(/MAX_OBJECT_RAW_BYTES/);
  });
});

describe('decodeObject on bad bytes', () => {
  const id = 'ab'.repeat(32) as ObjectId;

  it('names the object when its SHA-256 does not match', async () => {
    const stored = await encodeObject(Uint8Array.of(1, 2, 3), 1);
    const error = await corruptError(decodeObject(stored, { expectedId: id, file: '/store/x' }));
    expect(error.message).toContain(id);
    expect(error.message).toContain('/store/x');
    expect(error.file).toBe('/store/x');
  });

  it('rejects every tampered header field', async () => {
    const payload = Uint8Array.of(9, 9, 9, 9);
    const cases: [Uint8Array, RegExp][] = [
      [Uint8Array.of(0x57, 0x46), /shorter than the 16-byte/],
      [concat(Uint8Array.of(0x57, 0x46, 0x55, 1), header({ rawLength: 4n }).subarray(4), payload), /not a Weft object/],
      [concat(header({ version: 2, rawLength: 4n }), payload), /version 2/],
      [concat(header({ codec: 7, rawLength: 4n }), payload), /unknown codec 7/],
      [concat(header({ codec: 1, width: 3, rawLength: 4n }), payload), /group width 3/],
      [concat(header({ codec: 0, width: 2, rawLength: 4n }), payload), /raw payload has group width 2/],
      [concat(header({ reserved: 1, rawLength: 4n }), payload), /reserved/],
      [concat(header({ rawLength: 5n }), payload), /raw payload has 4 bytes/],
      [concat(header({ codec: 1, width: 4, rawLength: 6n }), payload), /not a multiple/],
      [concat(header({ codec: 1, rawLength: 4n }), payload), /not a zstd frame/],
      [concat(header({ codec: 2, width: 1, rawLength: 4n }), payload), /planes payload has group width 1/],
    ];
    for (const [bytes, message] of cases) {
      const error = await corruptError(decodeObject(bytes));
      expect(error.message).toMatch(message);
    }
  });

  it('rejects a 2^60 raw length from the header alone, before allocating', async () => {
    const bytes = concat(header({ codec: 1, width: 1, rawLength: 2n ** 60n }), Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd));
    const error = await corruptError(decodeObject(bytes));
    expect(error.message).toContain('1152921504606846976');
    expect(error.message).toContain(String(MAX_OBJECT_RAW_BYTES));
  });

  it('checks the expected raw length before decompressing', async () => {
    const stored = await encodeObject(new Uint8Array(4096), 1);
    const error = await corruptError(decodeObject(stored, { expectedRawLength: 4000 }));
    expect(error.message).toMatch(/declares 4096 raw bytes, expected 4000/);
  });

  it('refuses a zstd bomb: a small declared length with a frame that expands far beyond it', async () => {
    // A frame that states its size (as Weft's encoder writes them) is refused by that size...
    const bomb = zstdCompress(Buffer.alloc(16 * 1024 * 1024), 1);
    expect(bomb.length).toBeLessThan(4096);
    const error = await corruptError(decodeObject(concat(header({ codec: 1, rawLength: 64n }), bomb)));
    expect(error.message).toMatch(/zstd frame declares 16777216 bytes, the header 64/);
    // ...and one that does not (streaming encoders, older objects) by its block count.
    const unsized = rleBomb(128);
    const error2 = await corruptError(decodeObject(concat(header({ codec: 1, rawLength: 64n }), unsized)));
    expect(error2.message).toMatch(/blocks|regenerates more/);
  });

  it('compresses data zstd splits into short blocks (bitmaps of varying density), and still bounds the blocks', async () => {
    // 2 MiB whose density of non-zero bytes changes every 16 KiB: zstd's block splitter cuts 26 blocks where
    // ceil(2 MiB / 128 KiB) + 1 = 17 would have been allowed before.
    const raw = new Uint8Array(2 * 1024 * 1024);
    let x = 7;
    for (let i = 0; i < raw.length; i++) {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      raw[i] = (x >>> 24) / 256 < ((i >> 14) % 16) / 16 ? x & 0xff : 0;
    }
    const stored = await encodeObject(raw, 1);
    expect(stored.length).toBeLessThan(raw.length * 0.8);
    expect(Buffer.compare(Buffer.from(await decodeObject(stored)), Buffer.from(raw))).toBe(0);
    // A frame of many tiny raw blocks regenerating far more than its declared length is still refused.
    const blocks: number[] = [];
    for (let k = 0; k < 8; k++) blocks.push(0x00, 0x00, 0x00); // empty raw blocks, not last
    const frame = Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58, ...blocks, 0x01, 0x00, 0x00]);
    expect(checkZstdFrame(frame, 10)).toMatch(/more than 4 blocks/);
  });

  it('refuses concatenated frames, trailing bytes and truncation', async () => {
    const raw = new Uint8Array(1000).fill(5);
    const frame = zstdCompress(raw, 1);
    const head = header({ codec: 1, rawLength: 1000n });
    expect(checkZstdFrame(frame, 1000)).toBeUndefined();
    await corruptError(decodeObject(concat(head, frame, frame)));
    await corruptError(decodeObject(concat(head, frame, Uint8Array.of(0))));
    await corruptError(decodeObject(concat(head, frame.subarray(0, frame.length - 1))));
    // A well-formed frame that decodes to fewer bytes than declared.
    const short = zstdCompress(raw.subarray(0, 999), 1);
    const error = await corruptError(decodeObject(concat(head, short)));
    expect(error.message).toMatch(/999 bytes/);
  });

  it('never throws anything but STORE_CORRUPT on mutated objects (fuzz)', async () => {
    const base = await encodeObject(weights(20_000, 'BF16', 7), 2);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat({ max: base.length - 1 }), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.nat({ max: base.length }),
        async (edits, cut) => {
          const bytes = Uint8Array.from(base.subarray(0, Math.max(cut, 17)));
          for (const [at, value] of edits) if (at < bytes.length) bytes[at] = value;
          try {
            await decodeObject(bytes);
          } catch (error) {
            expect(error).toBeInstanceOf(StoreError);
            expect((error as StoreError).code).toBe('STORE_CORRUPT');
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('codec 2: byte planes stored one by one', () => {
  it('writes the exact bytes of a small planes object: a raw mantissa plane, a zstd exponent plane', async () => {
    const low = randomBytes(64, 3);
    const raw = new Uint8Array(128);
    for (let i = 0; i < 64; i++) {
      raw[2 * i] = low[i]!;
      raw[2 * i + 1] = 0x3c;
    }
    const frame = zstd(new Uint8Array(64).fill(0x3c));
    const expected = concat(
      header({ codec: 2, width: 2, rawLength: 128n }),
      planeHeader(0, 64),
      low,
      planeHeader(1, frame.length),
      frame,
    );
    const stored = await encodeObject(raw, 2);
    expect([...stored]).toEqual([...expected]);
    expect(encodeObjectSync(raw, 2)).toEqual(stored);
    expect([...(await decodeObject(expected))]).toEqual([...raw]);
    expect([...decodeObjectSync(expected)]).toEqual([...raw]);
    expect(validateObject(expected)).toEqual({ codec: 'planes', groupWidth: 2, rawLength: 128 });
  });

  it('decodes hand-built planes in any order of raw and zstd, aligned or not', async () => {
    for (const n of [5, 64, 8192, 8193]) {
      const hi = new Uint8Array(n).fill(7);
      const lo = randomBytes(n, n);
      const raw = new Uint8Array(2 * n);
      for (let i = 0; i < n; i++) {
        raw[2 * i] = lo[i]!;
        raw[2 * i + 1] = hi[i]!;
      }
      // The zstd plane first puts the raw plane at an odd offset.
      const frame = zstd(lo);
      const stored = concat(
        header({ codec: 2, width: 2, rawLength: BigInt(2 * n) }),
        planeHeader(1, frame.length),
        frame,
        planeHeader(0, n),
        hi,
      );
      const reversed = concat(header({ codec: 2, width: 2, rawLength: BigInt(2 * n) }), planeHeader(0, n));
      expect(Buffer.from(await decodeObject(stored)).equals(Buffer.from(raw))).toBe(true);
      expect(Buffer.from(decodeObjectSync(stored)).equals(Buffer.from(raw))).toBe(true);
      await corruptError(decodeObject(reversed));
    }
  });

  it('round-trips widths 2, 4 and 8 with compressible and incompressible planes, from one buffer or pieces', async () => {
    const cases: [GroupWidth, boolean[]][] = [
      [2, [true, false]],
      [2, [false, true]],
      [4, [true, true, false, false]],
      [4, [false, true, false, true]],
      [8, [true, false, true, true, false, false, true, false]],
    ];
    for (const [k, [width, noisy]] of cases.entries()) {
      const count = 70_000 + k; // planes longer than the 64 KiB sample, of odd and even lengths
      const raw = mixedPlanes(count, noisy, k + 1);
      const stored = await encodeObject(raw, width);
      expect(parseObjectHeader(stored)).toEqual({ codec: 'planes', groupWidth: width, rawLength: raw.length });
      expect(planeCodecs(stored)).toEqual(noisy.map((n) => (n ? 0 : 1)));
      expect(Buffer.from(await decodeObject(stored)).equals(Buffer.from(raw))).toBe(true);
      expect(Buffer.from(decodeObjectSync(stored)).equals(Buffer.from(raw))).toBe(true);
      const pieces = cutInto(raw, [1, 1, 7, 4096, 4097, 65_537, 100_001, raw.length - 3]);
      expect(Buffer.from(await encodeObject(pieces, width)).equals(Buffer.from(stored))).toBe(true);
      expect(Buffer.from(encodeObjectSync(pieces, width)).equals(Buffer.from(stored))).toBe(true);
    }
  });

  it('gives the same object for any cut into pieces, any width and length (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<GroupWidth>(1, 2, 4, 8),
        fc.nat({ max: 4000 }),
        fc.array(fc.nat({ max: 4000 }), { maxLength: 6 }),
        fc.nat(),
        async (width, length, cuts, seed) => {
          const raw = randomBytes(length, seed).map((b, i) => (i % 2 ? b & 1 : b));
          const whole = encodeObjectSync(raw, width);
          const pieces = cutInto(raw, cuts);
          expect(Buffer.from(encodeObjectSync(pieces, width)).equals(Buffer.from(whole))).toBe(true);
          expect(Buffer.from(await encodeObject(pieces, width)).equals(Buffer.from(whole))).toBe(true);
          expect(Buffer.from(decodeObjectSync(whole)).equals(Buffer.from(raw))).toBe(true);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('skips zstd on a plane whose 64 KiB sample does not compress, even if the rest would', async () => {
    const n = 200_000;
    const raw = mixedPlanes(n, [true, false], 9);
    const noise = randomBytes(70_000, 77);
    for (let i = 0; i < noise.length; i++) raw[2 * i + 1] = noise[i]!; // plane 1 starts noisy
    const stored = await encodeObject(raw, 2);
    expect(parseObjectHeader(stored).codec).toBe('raw');
    expect(Buffer.from(await decodeObject(stored)).equals(Buffer.from(raw))).toBe(true);
  });

  it('rejects every bad plane header and plane with STORE_CORRUPT', async () => {
    const n = 1000;
    const hi = new Uint8Array(n).fill(9);
    const lo = randomBytes(n, 5);
    const frame = zstd(hi);
    const head = header({ codec: 2, width: 2, rawLength: BigInt(2 * n) });
    const good = concat(head, planeHeader(0, n), lo, planeHeader(1, frame.length), frame);
    expect(validateObject(good).codec).toBe('planes');
    const bomb = rleBomb(128);
    const sizedBomb = zstd(new Uint8Array(16 * 1024 * 1024));
    const cases: [Uint8Array, RegExp][] = [
      [
        concat(head, planeHeader(0, n), lo, planeHeader(1, sizedBomb.length), sizedBomb),
        /plane 1: .*declares 16777216/,
      ],
      [concat(head, planeHeader(2, n), lo, planeHeader(1, frame.length), frame), /plane 0 has unknown codec 2/],
      [concat(head, planeHeader(0, n, 1), lo, planeHeader(1, frame.length), frame), /plane 0 header has reserved/],
      [concat(head, planeHeader(0, n), lo, planeHeader(1, 0xffffffff), frame), /plane 1 declares 4294967295/],
      [concat(head, planeHeader(0, n - 1), lo.subarray(1), planeHeader(1, frame.length), frame), /raw plane 0 has 999/],
      [concat(head, planeHeader(0, n), lo, planeHeader(1, bomb.length), bomb), /plane 1: .*(blocks|regenerates)/],
      [concat(head, planeHeader(0, n), lo, planeHeader(1, 3), Uint8Array.of(1, 2, 3)), /plane 1: .*not a zstd frame/],
      [concat(good, Uint8Array.of(0)), /1 bytes follow the last plane/],
      [concat(head, planeHeader(0, n), lo), /plane 1 header is truncated/],
      [concat(head, planeHeader(0, n), lo, planeHeader(0, n), lo, planeHeader(0, 0)), /follow the last plane/],
    ];
    for (const [bytes, message] of cases) {
      expect((await corruptError(decodeObject(bytes))).message).toMatch(message);
      expect(() => decodeObjectSync(bytes)).toThrow(message);
      expect(() => validateObject(bytes)).toThrow(message);
    }
    // A well-formed frame that regenerates fewer bytes than its plane: refused by its stated size, or, when it
    // states none, by what it decodes to.
    const short = zstd(hi.subarray(1));
    const shortPlane = concat(head, planeHeader(0, n), lo, planeHeader(1, short.length), short);
    expect((await corruptError(decodeObject(shortPlane))).message).toMatch(/plane 1: zstd frame declares 999 bytes/);
    const unsized = rleBomb(1, n - 1);
    const unsizedPlane = concat(head, planeHeader(0, n), lo, planeHeader(1, unsized.length), unsized);
    expect((await corruptError(decodeObject(unsizedPlane))).message).toMatch(/plane 1 decompresses to 999 bytes/);
  });

  it('turns every truncation and every single-byte change into STORE_CORRUPT (or, unverified, a clean decode)', async () => {
    const raw = mixedPlanes(300, [true, false, true, false], 11);
    const stored = await encodeObject(raw, 4);
    expect(parseObjectHeader(stored).codec).toBe('planes');
    const id = computeObjectId(stored);
    for (let cut = 0; cut < stored.length; cut++) {
      await corruptError(decodeObject(stored.subarray(0, cut)));
      expect(() => decodeObjectSync(stored.subarray(0, cut))).toThrow(StoreError);
    }
    for (let at = 0; at < stored.length; at++) {
      for (const flip of [0x01, 0x80, 0xff]) {
        const bad = Uint8Array.from(stored);
        bad[at]! ^= flip;
        await corruptError(decodeObject(bad, { expectedId: id }));
        try {
          const decoded = decodeObjectSync(bad);
          expect(decoded.length).toBe(raw.length); // a flipped byte inside a raw plane decodes
        } catch (error) {
          expect(error).toBeInstanceOf(StoreError);
          expect((error as StoreError).code).toBe('STORE_CORRUPT');
        }
      }
    }
  });
});

describe('object ids', () => {
  it('is the SHA-256 of the stored bytes', async () => {
    const stored = await encodeObject(Uint8Array.of(1, 2, 3), 1);
    expect(computeObjectId(stored)).toBe(createHash('sha256').update(stored).digest('hex'));
  });

  it('parses only 64 lowercase hex digits', () => {
    expect(parseObjectId('0'.repeat(64))).toBe('0'.repeat(64));
    expect(parseObjectId('A'.repeat(64))).toBeUndefined();
    expect(parseObjectId('0'.repeat(63))).toBeUndefined();
    expect(parseObjectId(`../${'0'.repeat(61)}`)).toBeUndefined();
  });
});
