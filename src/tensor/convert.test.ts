// Tests for convert.ts: exhaustive over every F16/BF16/F8 bit pattern against plain-math references, rounding at
// every tie and boundary, integer kernels against BigInt references. References here never call convert.ts.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bf16BitsToF32,
  decodeToF32,
  encodeFromF32,
  f8E4m3BitsToF32,
  f8E5m2BitsToF32,
  f16BitsToF32,
  f32BitsToBf16Bits,
  f32BitsToF8E4m3Bits,
  f32BitsToF8E5m2Bits,
  f32BitsToF16Bits,
  f32ToBf16Bits,
  f32ToF8E4m3Bits,
  f32ToF8E5m2Bits,
  f32ToF16Bits,
} from './convert.js';
import type { Dtype } from './dtype.js';
import { DTYPES, dtypeSize } from './dtype.js';

// --- plain-math references -------------------------------------------------------------------------------------

const view = new DataView(new ArrayBuffer(8));
function bitsOfF32(x: number): number {
  view.setFloat32(0, x, true);
  return view.getUint32(0, true);
}
function f32OfBits(u: number): number {
  view.setUint32(0, u >>> 0, true);
  return view.getFloat32(0, true);
}

interface Format {
  dtype: Dtype;
  exp: number;
  man: number;
  bias: number;
  /** IEEE-like (all-ones exponent = Inf/NaN) or "fn" (only S.1…1.1…1 is NaN, no Inf). */
  ieee: boolean;
  /** The first code past the largest finite one: Inf for IEEE formats, NaN for E4M3 (what overflow gives). */
  overflow: number;
  /** The mantissa bit that marks a quiet NaN (0 when NaN has no payload). */
  quiet: number;
  decode: (bits: number) => number;
  encode: (x: number) => number;
  encodeBits: (u: number) => number;
}

const F16: Format = {
  dtype: 'F16',
  exp: 5,
  man: 10,
  bias: 15,
  ieee: true,
  overflow: 0x7c00,
  quiet: 0x200,
  decode: f16BitsToF32,
  encode: f32ToF16Bits,
  encodeBits: f32BitsToF16Bits,
};
const BF16: Format = {
  dtype: 'BF16',
  exp: 8,
  man: 7,
  bias: 127,
  ieee: true,
  overflow: 0x7f80,
  quiet: 0x40,
  decode: bf16BitsToF32,
  encode: f32ToBf16Bits,
  encodeBits: f32BitsToBf16Bits,
};
const E4M3: Format = {
  dtype: 'F8_E4M3',
  exp: 4,
  man: 3,
  bias: 7,
  ieee: false,
  overflow: 0x7f,
  quiet: 0,
  decode: f8E4m3BitsToF32,
  encode: f32ToF8E4m3Bits,
  encodeBits: f32BitsToF8E4m3Bits,
};
const E5M2: Format = {
  dtype: 'F8_E5M2',
  exp: 5,
  man: 2,
  bias: 15,
  ieee: true,
  overflow: 0x7c,
  quiet: 0x2,
  decode: f8E5m2BitsToF32,
  encode: f32ToF8E5m2Bits,
  encodeBits: f32BitsToF8E5m2Bits,
};
const FORMATS = [F16, BF16, E4M3, E5M2];

const width = (f: { exp: number; man: number }) => 1 + f.exp + f.man;

/** sign · 2^e · mantissa, ignoring special codes (so the overflow code gets its "next binade" value). */
function refMagnitude(code: number, f: { exp: number; man: number; bias: number }): number {
  const e = Math.floor(code / 2 ** f.man) % 2 ** f.exp;
  const m = code % 2 ** f.man;
  return e === 0 ? 2 ** (1 - f.bias) * (m / 2 ** f.man) : 2 ** (e - f.bias) * (1 + m / 2 ** f.man);
}

function refValue(code: number, f: Format): number {
  const sign = code >= 2 ** (f.exp + f.man) ? -1 : 1;
  const mag = code % 2 ** (f.exp + f.man);
  const e = Math.floor(mag / 2 ** f.man);
  const m = mag % 2 ** f.man;
  if (f.ieee && e === 2 ** f.exp - 1) return m === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  if (!f.ieee && e === 2 ** f.exp - 1 && m === 2 ** f.man - 1) return Number.NaN;
  return sign * refMagnitude(mag, f);
}

/**
 * The code nearest to the (non-NaN) number x, ties to the even code, searching codes 0 … `overflow` by value;
 * landing on `overflow` (or beyond it) is overflow.
 */
function refNearestCode(x: number, f: { exp: number; man: number; bias: number; overflow: number }): number {
  const signBit = x < 0 || Object.is(x, -0) ? 2 ** (f.exp + f.man) : 0;
  const ax = Math.abs(x);
  if (ax >= refMagnitude(f.overflow, f)) return signBit + f.overflow;
  let lo = 0;
  let hi = f.overflow; // invariant: refMagnitude(lo) ≤ ax < refMagnitude(hi)
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (refMagnitude(mid, f) <= ax) lo = mid;
    else hi = mid;
  }
  const below = ax - refMagnitude(lo, f);
  const above = refMagnitude(hi, f) - ax;
  const code = below < above ? lo : above < below ? hi : lo % 2 === 0 ? lo : hi;
  return signBit + code;
}

const isNaNCode = (code: number, f: Format) => Number.isNaN(refValue(code, f));

// --- the reference itself -----------------------------------------------------------------------------------------

describe('the rounding reference', () => {
  const F32 = { exp: 8, man: 23, bias: 127, overflow: 0x7f800000 };
  it('agrees with Math.fround (float64 → float32) on random doubles', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true }), (x) => {
        const expected = bitsOfF32(x);
        const got = refNearestCode(x, F32);
        return got >>> 0 === expected;
      }),
      { numRuns: 3000 },
    );
  });
  it('agrees with Math.fround at float32 ties, including subnormal and overflow ties', () => {
    for (const x of [1 + 2 ** -24, 1 + 3 * 2 ** -24, 2 ** -150, 3 * 2 ** -150, (2 - 2 ** -24) * 2 ** 127, 2 ** 128]) {
      expect(f32OfBits(refNearestCode(x, F32))).toBe(Math.fround(x));
    }
  });
});

// --- exhaustive decode and round trip ---------------------------------------------------------------------------

describe.each(FORMATS)('$dtype over every bit pattern', (f) => {
  const count = 2 ** width(f);
  const codes = Array.from({ length: count }, (_, c) => c);
  const bytes =
    f.dtype === 'F8_E4M3' || f.dtype === 'F8_E5M2'
      ? Uint8Array.from(codes)
      : new Uint8Array(Uint16Array.from(codes).buffer);

  it('decodes to sign · 2^e · mantissa (scalar and array kernel)', () => {
    const array = decodeToF32(f.dtype, bytes);
    for (const c of codes) {
      const expected = refValue(c, f);
      const scalar = f.decode(c);
      if (Number.isNaN(expected)) {
        if (!Number.isNaN(scalar) || !Number.isNaN(array[c]!)) expect.fail(`code ${c.toString(16)} should be NaN`);
      } else if (!Object.is(scalar, expected) || !Object.is(array[c], expected)) {
        expect.fail(`code ${c.toString(16)}: ${scalar} / ${array[c]} instead of ${expected}`);
      }
    }
  });

  it('re-encodes every decoded value to the same bits; any NaN to a NaN', () => {
    for (const c of codes) {
      const back = f.encode(f.decode(c));
      if (isNaNCode(c, f) ? !isNaNCode(back, f) : back !== c) expect.fail(`code ${c.toString(16)} → ${back}`);
    }
  });

  it('round-trips every pattern through the array kernels; NaNs keep sign and payload, quieted', () => {
    const back = encodeFromF32(f.dtype, decodeToF32(f.dtype, bytes));
    const got = f.dtype === 'F8_E4M3' || f.dtype === 'F8_E5M2' ? back : new Uint16Array(back.buffer);
    for (const c of codes) {
      const expected = isNaNCode(c, f) ? c | f.quiet : c;
      if (got[c] !== expected) expect.fail(`code ${c.toString(16)} → ${got[c]?.toString(16)}`);
    }
  });

  it('is monotone: codes order like their values', () => {
    let prev = Number.NEGATIVE_INFINITY;
    for (let c = 0; c <= f.overflow; c++) {
      const v = refMagnitude(c, f);
      if (!(v > prev)) expect.fail(`code ${c.toString(16)} is not above its predecessor`);
      prev = v;
    }
  });
});

// --- rounding float32 → narrow ------------------------------------------------------------------------------------

const nextUp = (x: number) => f32OfBits(bitsOfF32(x) + 1); // x > 0
const nextDown = (x: number) => f32OfBits(bitsOfF32(x) - 1); // x > 0

describe.each(FORMATS)('$dtype rounding from float32', (f) => {
  const neg = 2 ** (f.exp + f.man);

  it('at every midpoint between neighbours ties to even, and just off it goes to the nearer one', () => {
    // Covers every subnormal boundary, the subnormal/normal seam and the overflow threshold (last pair).
    const check = (x: number, expected: number) => {
      const a = f.encode(x);
      const b = f.encode(-x);
      if (a !== expected || b !== expected + neg) expect.fail(`±${x}: ${a}, ${b} instead of ${expected}`);
    };
    for (let c = 0; c < f.overflow; c++) {
      const lo = refMagnitude(c, f);
      const hi = refMagnitude(c + 1, f);
      const mid = (lo + hi) / 2;
      expect(Math.fround(mid)).toBe(mid);
      check(lo, c);
      check(mid, c % 2 === 0 ? c : c + 1);
      check(nextDown(mid), c);
      check(nextUp(mid), c + 1);
    }
  });

  it('sends everything from the overflow value up, and ±Inf, to the overflow code', () => {
    const limit = refMagnitude(f.overflow, f);
    for (const x of [limit, 1e30, 3.4028234663852886e38, Number.POSITIVE_INFINITY].filter((x) => x >= limit)) {
      expect(f.encode(x)).toBe(f.overflow);
      expect(f.encode(-x)).toBe(f.overflow + neg);
    }
  });

  it('sends everything below half the smallest subnormal to a zero of the same sign', () => {
    const half = refMagnitude(1, f) / 2;
    for (const x of [half, nextDown(half), 2 ** -149, 2 ** -126, 0]) {
      if (x < refMagnitude(1, f) && x <= half) {
        expect(f.encode(x)).toBe(0);
        expect(f.encode(-x)).toBe(neg);
      }
    }
  });

  it('keeps NaN a NaN with its sign (quiet where the format distinguishes)', () => {
    for (const u of [0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7fffffff, 0x7fa00000]) {
      const code = f.encodeBits(u);
      expect(isNaNCode(code, f)).toBe(true);
      expect(code >= neg).toBe(u >= 0x80000000);
      if (f.quiet !== 0) expect(code & f.quiet).toBe(f.quiet);
    }
  });

  it('matches the reference on random float32 bit patterns', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (u) => {
        const x = f32OfBits(u);
        const got = f.encodeBits(u);
        return Number.isNaN(x) ? isNaNCode(got, f) : got === refNearestCode(x, f);
      }),
      { numRuns: 5000 },
    );
  });

  it('matches the reference on random float32 values in and around its range', () => {
    const max = refMagnitude(f.overflow, f) * 1.25;
    fc.assert(
      fc.property(fc.float({ min: Math.fround(-max), max: Math.fround(max), noNaN: true }), (x) => {
        return f.encode(x) === refNearestCode(x, f);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('hand-checked rounding cases', () => {
  it('F16', () => {
    expect(f32ToF16Bits(1)).toBe(0x3c00);
    expect(f32ToF16Bits(-0)).toBe(0x8000);
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(65519)).toBe(0x7bff);
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // tie: 0x7bff is odd, so up to Inf
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie, kept even
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie, up to even
    expect(f32ToF16Bits(2 ** -24)).toBe(0x0001);
    expect(f32ToF16Bits(2 ** -25)).toBe(0x0000); // tie between 0 and the smallest subnormal
    expect(f32ToF16Bits(Math.fround(2 ** -25 * (1 + 2 ** -23)))).toBe(0x0001);
    expect(f32ToF16Bits(1.5 * 2 ** -24)).toBe(0x0002);
    expect(f32ToF16Bits(2.5 * 2 ** -24)).toBe(0x0002);
    expect(f32ToF16Bits(2 ** -14 - 2 ** -25)).toBe(0x0400); // tie at the subnormal/normal seam
    expect(f32ToF16Bits(Number.NaN)).toBe(0x7e00);
  });
  it('BF16', () => {
    expect(f32ToBf16Bits(1)).toBe(0x3f80);
    expect(f32ToBf16Bits(1 + 2 ** -8)).toBe(0x3f80);
    expect(f32ToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(f32ToBf16Bits(3.4028234663852886e38)).toBe(0x7f80); // float32 max is past the last tie
    expect(f32ToBf16Bits(2 ** -149)).toBe(0x0000);
    expect(f32ToBf16Bits(2 ** -133)).toBe(0x0001);
  });
  it('F8_E4M3 (fn): overflow past 448 gives NaN, as PyTorch', () => {
    expect(f32ToF8E4m3Bits(448)).toBe(0x7e);
    expect(f32ToF8E4m3Bits(464)).toBe(0x7e); // tie between 448 and 480, kept even
    expect(f32ToF8E4m3Bits(465)).toBe(0x7f);
    expect(f32ToF8E4m3Bits(-1000)).toBe(0xff);
    expect(f32ToF8E4m3Bits(Number.POSITIVE_INFINITY)).toBe(0x7f);
    expect(f32ToF8E4m3Bits(2 ** -9)).toBe(0x01);
    expect(f32ToF8E4m3Bits(2 ** -10)).toBe(0x00);
    expect(f32ToF8E4m3Bits(3 * 2 ** -10)).toBe(0x02);
    expect(f32BitsToF8E4m3Bits(0xffc00000)).toBe(0xff);
  });
  it('F8_E5M2: overflow gives Inf', () => {
    expect(f32ToF8E5m2Bits(57344)).toBe(0x7b);
    expect(f32ToF8E5m2Bits(61439)).toBe(0x7b);
    expect(f32ToF8E5m2Bits(61440)).toBe(0x7c); // tie, 0x7c is even
    expect(f32ToF8E5m2Bits(2 ** -16)).toBe(0x01);
    expect(f32ToF8E5m2Bits(2 ** -17)).toBe(0x00);
    expect(f32BitsToF8E5m2Bits(0xffc00000)).toBe(0xfe);
  });
  it('scalar functions round a float64 argument to float32 first (one documented double rounding)', () => {
    // 1 + 2^-11 + 2^-40 would round up to 0x3c01 directly; as float32 it is the tie 1 + 2^-11 → 0x3c00.
    expect(f32ToF16Bits(1 + 2 ** -11 + 2 ** -40)).toBe(0x3c00);
    fc.assert(
      fc.property(fc.double({ noNaN: true }), (x) => f32ToF16Bits(x) === f32ToF16Bits(Math.fround(x))),
      { numRuns: 1000 },
    );
  });
  it('f32 → f16 → f32 is the nearest F16 value', () => {
    const nearest = (x: number) => refValue(refNearestCode(x, F16), F16);
    fc.assert(
      fc.property(fc.oneof(fc.float({ noNaN: true }), fc.float({ min: -70000, max: 70000, noNaN: true })), (x) =>
        Object.is(f16BitsToF32(f32ToF16Bits(x)), nearest(x)),
      ),
      { numRuns: 5000 },
    );
  });
});

// --- wide floats, integers, bool --------------------------------------------------------------------------------

/** Bytes of `values` written little-endian with DataView, one `set` per element. */
function le<T>(size: number, values: readonly T[], set: (d: DataView, at: number, v: T) => void): Uint8Array {
  const d = new DataView(new ArrayBuffer(size * values.length));
  for (let i = 0; i < values.length; i++) set(d, i * size, values[i]!);
  return new Uint8Array(d.buffer);
}

/** The float32 nearest to an integer (ties to even), computed with BigInt. */
function refIntToF32(v: bigint): number {
  const neg = v < 0n;
  let a = neg ? -v : v;
  const bits = a.toString(2).length;
  if (bits > 24) {
    const shift = BigInt(bits - 24);
    let q = a >> shift;
    const rem = a - (q << shift);
    const half = 1n << (shift - 1n);
    if (rem > half || (rem === half && (q & 1n) === 1n)) q += 1n;
    a = q << shift;
  }
  return neg ? -Number(a) : Number(a);
}

describe('decodeToF32 for wide floats and integers', () => {
  it('F64 rounds like Math.fround, and NaN stays NaN', () => {
    fc.assert(
      fc.property(fc.array(fc.double(), { maxLength: 16 }), (xs) => {
        const got = decodeToF32(
          'F64',
          le(8, xs, (d, at, v: number) => d.setFloat64(at, v, true)),
        );
        return xs.every((x, i) => Object.is(got[i], Math.fround(x)));
      }),
    );
    const nan = le(8, [0], (d, at) => d.setUint32(at + 4, 0xfff40000, true));
    expect(new Uint32Array(decodeToF32('F64', nan).buffer)[0]).toBe(0xffe00000);
  });
  it('F32 copies bits exactly, NaN payloads included', () => {
    const bytes = le(4, [0x7f800001, 0x80000000, 0x3f800000], (d, at, v: number) => d.setUint32(at, v, true));
    expect([...new Uint32Array(decodeToF32('F32', bytes).buffer)]).toEqual([0x7f800001, 0x80000000, 0x3f800000]);
  });
  it('small integer dtypes exactly', () => {
    expect([...decodeToF32('I8', Uint8Array.from([0x80, 0xff, 0x7f]))]).toEqual([-128, -1, 127]);
    expect([...decodeToF32('U8', Uint8Array.from([0, 255]))]).toEqual([0, 255]);
    expect([...decodeToF32('BOOL', Uint8Array.from([0, 1, 2]))]).toEqual([0, 1, 1]);
    const i16 = le(2, [-32768, 32767, -1], (d, at, v: number) => d.setInt16(at, v, true));
    expect([...decodeToF32('I16', i16)]).toEqual([-32768, 32767, -1]);
    const u16 = le(2, [65535, 1], (d, at, v: number) => d.setUint16(at, v, true));
    expect([...decodeToF32('U16', u16)]).toEqual([65535, 1]);
  });
  it('I32 and U32 to the nearest float32', () => {
    const i32 = [-(2 ** 31), 2 ** 31 - 1, 16777217, 16777219, -16777217];
    const got = decodeToF32(
      'I32',
      le(4, i32, (d, at, v: number) => d.setInt32(at, v, true)),
    );
    expect([...got]).toEqual(i32.map((v) => refIntToF32(BigInt(v))));
    const u32 = [2 ** 32 - 1, 2 ** 31 + 128, 2 ** 31 + 129];
    const gotU = decodeToF32(
      'U32',
      le(4, u32, (d, at, v: number) => d.setUint32(at, v, true)),
    );
    expect([...gotU]).toEqual(u32.map((v) => refIntToF32(BigInt(v))));
  });
  it('I64 and U64 to the nearest float32 with a single rounding', () => {
    const tricky = (1n << 60n) + (1n << 36n) + 1n; // via float64 this would round to a tie, then down
    const i64 = [tricky, -tricky, -(1n << 63n), (1n << 63n) - 1n, (1n << 53n) + 1n, -(1n << 53n) - 1n, -5n, 0n];
    const got = decodeToF32(
      'I64',
      le(8, i64, (d, at, v: bigint) => d.setBigInt64(at, v, true)),
    );
    expect([...got]).toEqual(i64.map(refIntToF32));
    expect(got[0]).toBe(2 ** 60 + 2 ** 37);
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
            fc.bigInt({ min: -(1n << 40n), max: 1n << 40n }),
          ),
          {
            maxLength: 16,
          },
        ),
        (vs) => {
          const out = decodeToF32(
            'I64',
            le(8, vs, (d, at, v: bigint) => d.setBigInt64(at, v, true)),
          );
          return vs.every((v, i) => out[i] === refIntToF32(v));
        },
      ),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { maxLength: 16 }), (vs) => {
        const out = decodeToF32(
          'U64',
          le(8, vs, (d, at, v: bigint) => d.setBigUint64(at, v, true)),
        );
        return vs.every((v, i) => out[i] === refIntToF32(v));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('encodeFromF32 for wide floats and integers', () => {
  const enc = (dtype: Dtype, xs: number[]) => new DataView(encodeFromF32(dtype, Float32Array.from(xs)).buffer);

  it('rounds half to even, then saturates; NaN → 0', () => {
    const xs = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999998, 200, -200, Number.NaN, Number.POSITIVE_INFINITY, -0];
    const i8 = enc('I8', xs);
    expect(xs.map((_, i) => i8.getInt8(i))).toEqual([0, 2, 2, 0, -2, -2, 2, 127, -128, 0, 127, 0]);
    const u8 = enc('U8', [-3, 300, 254.5, 253.5, Number.NEGATIVE_INFINITY]);
    expect([0, 1, 2, 3, 4].map((i) => u8.getUint8(i))).toEqual([0, 255, 254, 254, 0]);
    const i16 = enc('I16', [40000, -40000, -32768.5]);
    expect([0, 1, 2].map((i) => i16.getInt16(2 * i, true))).toEqual([32767, -32768, -32768]);
    const u16 = enc('U16', [65535.5, 70000, 0.5]);
    expect([0, 1, 2].map((i) => u16.getUint16(2 * i, true))).toEqual([65535, 65535, 0]);
    const i32 = enc('I32', [3e9, -3e9, 16777216, -7.5]);
    expect([0, 1, 2, 3].map((i) => i32.getInt32(4 * i, true))).toEqual([2 ** 31 - 1, -(2 ** 31), 16777216, -8]);
    const u32 = enc('U32', [5e9, -1, 4294967040]);
    expect([0, 1, 2].map((i) => u32.getUint32(4 * i, true))).toEqual([2 ** 32 - 1, 0, 4294967040]);
  });
  it('I64 and U64 saturate at their exact limits', () => {
    const i64 = enc('I64', [2 ** 63, -(2 ** 63), 1e30, -1e30, -3.5, 2 ** 62 + 2 ** 40, Number.NaN]);
    expect([0, 1, 2, 3, 4, 5, 6].map((i) => i64.getBigInt64(8 * i, true))).toEqual([
      (1n << 63n) - 1n,
      -(1n << 63n),
      (1n << 63n) - 1n,
      -(1n << 63n),
      -4n,
      (1n << 62n) + (1n << 40n),
      0n,
    ]);
    const u64 = enc('U64', [2 ** 64, -1, 2 ** 63, 0.5, 1.5]);
    expect([0, 1, 2, 3, 4].map((i) => u64.getBigUint64(8 * i, true))).toEqual([
      (1n << 64n) - 1n,
      0n,
      1n << 63n,
      0n,
      2n,
    ]);
  });
  it('F64 widens exactly, NaN sign and payload kept', () => {
    const f64 = enc('F64', [1.5, -0, Math.fround(0.1)]);
    expect([0, 1, 2].map((i) => f64.getFloat64(8 * i, true))).toEqual([1.5, -0, Math.fround(0.1)]);
    expect(Object.is(f64.getFloat64(8, true), -0)).toBe(true);
    const nan = new DataView(encodeFromF32('F64', new Float32Array(new Uint32Array([0xffa00001]).buffer)).buffer);
    expect(nan.getUint32(4, true).toString(16)).toBe('fffc0000');
    expect(nan.getUint32(0, true).toString(16)).toBe('20000000');
  });
  it('BOOL is x != 0', () => {
    expect([...encodeFromF32('BOOL', Float32Array.from([0, -0, Number.NaN, 2, -1e-30]))]).toEqual([0, 0, 1, 1, 1]);
  });
});

describe('kernel buffers', () => {
  const sample = Float32Array.from([1, -2.5, 0.25, 3, -0, 100, 7, -7]);

  it.each(DTYPES)('%s decodes from and encodes into unaligned bytes', (dtype) => {
    const size = dtypeSize(dtype);
    const bytes = encodeFromF32(dtype, sample);
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const odd = shifted.subarray(1);
    expect([...decodeToF32(dtype, odd)]).toEqual([...decodeToF32(dtype, bytes)]);
    const out = new Uint8Array(bytes.length + 3);
    const written = encodeFromF32(dtype, sample, out.subarray(1));
    expect(written.byteOffset).toBe(1);
    expect(written.length).toBe(sample.length * size);
    expect([...written]).toEqual([...bytes]);
  });
  it.each(FORMATS)(
    '$dtype array kernels agree with the scalar functions at every length (unrolled loops and tails)',
    (f) => {
      const size = width(f) / 8;
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 19 }), (words) => {
          const values = new Float32Array(Uint32Array.from(words).buffer);
          const encoded = encodeFromF32(f.dtype, values);
          const codes = size === 1 ? encoded : new Uint16Array(encoded.buffer);
          if (!words.every((u, i) => codes[i] === f.encodeBits(u))) return false;
          const decoded = decodeToF32(f.dtype, encoded);
          return [...codes].every((c, i) => Object.is(decoded[i], f.decode(c)));
        }),
        { numRuns: 500 },
      );
    },
  );

  it('writes into a longer output and returns just the written part', () => {
    const out = new Float32Array(10);
    const got = decodeToF32('U8', Uint8Array.from([1, 2]), out);
    expect(got.length).toBe(2);
    expect(got.buffer).toBe(out.buffer);
    expect([...out.subarray(0, 3)]).toEqual([1, 2, 0]);
  });
  it('rejects short outputs and partial elements', () => {
    expect(() => decodeToF32('F32', new Uint8Array(8), new Float32Array(1))).toThrow(RangeError);
    expect(() => encodeFromF32('F16', new Float32Array(2), new Uint8Array(3))).toThrow(RangeError);
    expect(() => decodeToF32('BF16', new Uint8Array(3))).toThrow(/3 bytes are not a whole number of BF16/);
  });
});

describe('unaligned Node Buffers', () => {
  it('decodes a Buffer view at an odd offset (Buffer#slice is a view, not a copy)', async () => {
    const { Buffer } = await import('node:buffer');
    const backing = Buffer.alloc(9);
    new DataView(backing.buffer, backing.byteOffset + 1, 8).setFloat32(0, 1.5, true);
    new DataView(backing.buffer, backing.byteOffset + 1, 8).setFloat32(4, -2, true);
    expect([...decodeToF32('F32', backing.subarray(1))]).toEqual([1.5, -2]);
  });
});
