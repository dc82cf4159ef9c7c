// Exact conversions between every dtype and float32: scalar bit-level functions and fast array kernels.
// Narrowing rounds to nearest, ties to even. Pure: no I/O; element bytes are little-endian and may be unaligned.

import type { Dtype } from './dtype.js';
import { dtypeSize } from './dtype.js';

const SCRATCH_F32 = new Float32Array(1);
const SCRATCH_U32 = new Uint32Array(SCRATCH_F32.buffer);

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The float32 bits of `x` after rounding it to float32 (as `Math.fround` does). */
function f32BitsOf(x: number): number {
  SCRATCH_F32[0] = x;
  return SCRATCH_U32[0]!;
}

/** The float32 value with bits `u`. */
function f32OfBits(u: number): number {
  SCRATCH_U32[0] = u;
  return SCRATCH_F32[0]!;
}

/** `m / 2^shift` rounded to nearest, ties to even, for 1 ≤ shift ≤ 24 and 0 ≤ m < 2^24. */
function roundShift(m: number, shift: number): number {
  const q = m >>> shift;
  const rem = m & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return rem > half || (rem === half && (q & 1) === 1) ? q + 1 : q;
}

/**
 * The code (exponent << man | mantissa) nearest, ties to even, to a finite float32 magnitude `a` (bits without
 * the sign) in a binary format with `man` mantissa bits and exponent `bias`, whose exponent range is no wider
 * than float32's. Unbounded above: a code past the largest finite one means overflow, which the caller maps.
 */
function roundToCode(a: number, man: number, bias: number): number {
  const e32 = a >>> 23;
  const shift = 23 - man;
  if (e32 >= 128 - bias) {
    // Normal in the target: rebias the exponent field, then round away the low `shift` bits. A carry out of the
    // mantissa correctly moves to the next binade.
    const r = a - ((127 - bias) << 23);
    return (r + ((1 << (shift - 1)) - 1) + ((r >>> shift) & 1)) >>> shift;
  }
  // Subnormal in the target: count units of its smallest subnormal, 2^(1 - bias - man).
  const sub = 151 - bias - man - e32;
  if (sub > 24) return 0; // below half the smallest subnormal (float32 subnormals included)
  return roundShift((a & 0x7fffff) | 0x800000, sub);
}

/** Float32 bits of a narrow-format code; NaN payloads are widened bit for bit, never quieted. */
function widenToF32Bits(code: number, exp: number, man: number, bias: number, ieee: boolean): number {
  const sign = ((code >>> (exp + man)) & 1) << 31;
  const maxExp = (1 << exp) - 1;
  const e = (code >>> man) & maxExp;
  let m = code & ((1 << man) - 1);
  if (ieee && e === maxExp) return (sign | 0x7f800000 | (m << (23 - man))) >>> 0;
  if (!ieee && e === maxExp && m === (1 << man) - 1) return (sign | 0x7fc00000) >>> 0;
  if (e === 0) {
    if (m === 0) return sign >>> 0;
    let e32 = 128 - bias; // exponent field of the smallest normal, 2^(1 - bias)
    while ((m & (1 << man)) === 0) {
      m <<= 1;
      e32--;
    }
    return (sign | (e32 << 23) | ((m & ((1 << man) - 1)) << (23 - man))) >>> 0;
  }
  return (sign | ((e - bias + 127) << 23) | (m << (23 - man))) >>> 0;
}

function buildTable(size: number, exp: number, man: number, bias: number, ieee: boolean): Uint32Array {
  const t = new Uint32Array(size);
  for (let c = 0; c < size; c++) t[c] = widenToF32Bits(c, exp, man, bias, ieee);
  return t;
}

// Decode tables (float32 bits by code), built on first use: F16 is 256 KiB.
let f16Table: Uint32Array | undefined;
let e4m3Table: Uint32Array | undefined;
let e5m2Table: Uint32Array | undefined;

function f16Bits(): Uint32Array {
  f16Table ??= buildTable(0x10000, 5, 10, 15, true);
  return f16Table;
}

function e4m3Bits(): Uint32Array {
  e4m3Table ??= buildTable(0x100, 4, 3, 7, false);
  return e4m3Table;
}

function e5m2Bits(): Uint32Array {
  e5m2Table ??= buildTable(0x100, 5, 2, 15, true);
  return e5m2Table;
}

/**
 * F16 bits nearest (ties to even) to the float32 with bits `u`. Overflow gives ±Inf; NaN stays NaN with its sign
 * and top payload bits, quieted.
 *
 * @example f32BitsToF16Bits(0x3f800000) // 0x3c00 (1.0)
 */
export function f32BitsToF16Bits(u: number): number {
  const s = (u >>> 16) & 0x8000;
  const a = u & 0x7fffffff;
  if (a >= 0x38800000) {
    if (a < 0x47800000) {
      // 2^-14 ≤ |x| < 2^16: normal, or rounds up to Inf past 65504 + 16.
      const r = a - 0x38000000;
      return s | ((r + 0xfff + ((r >>> 13) & 1)) >>> 13);
    }
    if (a > 0x7f800000) return s | 0x7e00 | ((a >>> 13) & 0x3ff);
    return s | 0x7c00;
  }
  if (a <= 0x33000000) return s; // |x| ≤ 2^-25, half the smallest subnormal: ties to even give zero
  return s | roundShift((a & 0x7fffff) | 0x800000, 126 - (a >>> 23));
}

/**
 * BF16 bits nearest (ties to even) to the float32 with bits `u`. Overflow gives ±Inf; NaN stays NaN with its
 * sign and top payload bits, quieted.
 *
 * @example f32BitsToBf16Bits(0x3f808000) // 0x3f80: 1 + 2^-8 is a tie, kept even
 */
export function f32BitsToBf16Bits(u: number): number {
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/**
 * F8_E4M3 (the "fn" variant: bias 7, no infinities, NaN = S.1111.111, max 448) bits nearest (ties to even) to
 * the float32 with bits `u`. Like PyTorch's `.to(torch.float8_e4m3fn)`, a value that rounds past ±448 (that is,
 * |x| > 464, including ±Inf) becomes NaN with its sign, not a saturated ±448.
 *
 * @example f32BitsToF8E4m3Bits(0x43e80000) // 0x7e: 464 is a tie between 448 and 480, kept even
 */
export function f32BitsToF8E4m3Bits(u: number): number {
  const s = (u >>> 24) & 0x80;
  const a = u & 0x7fffffff;
  if (a >= 0x43f00000) return s | 0x7f; // |x| ≥ 480, Inf or NaN
  const c = roundToCode(a, 3, 7);
  return s | (c > 0x7e ? 0x7f : c);
}

/**
 * F8_E5M2 (IEEE-like: bias 15, with Inf and NaN, max 57344) bits nearest (ties to even) to the float32 with
 * bits `u`. Overflow gives ±Inf; NaN stays NaN with its sign and top payload bit, quieted.
 *
 * @example f32BitsToF8E5m2Bits(0x3f800000) // 0x3c (1.0)
 */
export function f32BitsToF8E5m2Bits(u: number): number {
  const s = (u >>> 24) & 0x80;
  const a = u & 0x7fffffff;
  if (a > 0x7f800000) return s | 0x7e | ((a >>> 21) & 1);
  if (a >= 0x47800000) return s | 0x7c; // |x| ≥ 2^16 (or Inf); from 61440 rounding alone reaches Inf
  return s | roundToCode(a, 2, 15);
}

/**
 * The value of the F16 with bits `bits` (low 16 bits used).
 *
 * @example f16BitsToF32(0x3c00) // 1
 */
export function f16BitsToF32(bits: number): number {
  return f32OfBits(f16Bits()[bits & 0xffff]!);
}

/**
 * F16 bits of `x`, which is first rounded to float32 (`Math.fround`), then to F16 (ties to even).
 *
 * @example f32ToF16Bits(65520) // 0x7c00: the tie above 65504 rounds to even, which is Inf
 */
export function f32ToF16Bits(x: number): number {
  return f32BitsToF16Bits(f32BitsOf(x));
}

/**
 * The value of the BF16 with bits `bits` (low 16 bits used).
 *
 * @example bf16BitsToF32(0x3f80) // 1
 */
export function bf16BitsToF32(bits: number): number {
  return f32OfBits((bits & 0xffff) << 16);
}

/**
 * BF16 bits of `x`, which is first rounded to float32 (`Math.fround`), then to BF16 (ties to even).
 *
 * @example f32ToBf16Bits(-2) // 0xc000
 */
export function f32ToBf16Bits(x: number): number {
  return f32BitsToBf16Bits(f32BitsOf(x));
}

/**
 * The value of the F8_E4M3 (fn) with bits `bits` (low 8 bits used).
 *
 * @example f8E4m3BitsToF32(0x7e) // 448
 */
export function f8E4m3BitsToF32(bits: number): number {
  return f32OfBits(e4m3Bits()[bits & 0xff]!);
}

/**
 * F8_E4M3 (fn) bits of `x`, first rounded to float32, then to E4M3 (ties to even; past ±448 → NaN, as PyTorch).
 *
 * @example f32ToF8E4m3Bits(500) // 0x7f (NaN)
 */
export function f32ToF8E4m3Bits(x: number): number {
  return f32BitsToF8E4m3Bits(f32BitsOf(x));
}

/**
 * The value of the F8_E5M2 with bits `bits` (low 8 bits used).
 *
 * @example f8E5m2BitsToF32(0x7b) // 57344
 */
export function f8E5m2BitsToF32(bits: number): number {
  return f32OfBits(e5m2Bits()[bits & 0xff]!);
}

/**
 * F8_E5M2 bits of `x`, first rounded to float32, then to E5M2 (ties to even; overflow → ±Inf).
 *
 * @example f32ToF8E5m2Bits(-0) // 0x80
 */
export function f32ToF8E5m2Bits(x: number): number {
  return f32BitsToF8E5m2Bits(f32BitsOf(x));
}

// The hot loops below read eight elements before writing eight. V8 (Node 20) reloads a typed array's data pointer
// after every store to another typed array; batching the loads roughly doubles these memory-bound loops.

function widenBf16(s: Uint16Array, o: Uint32Array, n: number): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const a0 = s[i]!;
    const a1 = s[i + 1]!;
    const a2 = s[i + 2]!;
    const a3 = s[i + 3]!;
    const a4 = s[i + 4]!;
    const a5 = s[i + 5]!;
    const a6 = s[i + 6]!;
    const a7 = s[i + 7]!;
    o[i] = a0 << 16;
    o[i + 1] = a1 << 16;
    o[i + 2] = a2 << 16;
    o[i + 3] = a3 << 16;
    o[i + 4] = a4 << 16;
    o[i + 5] = a5 << 16;
    o[i + 6] = a6 << 16;
    o[i + 7] = a7 << 16;
  }
  for (; i < n; i++) o[i] = s[i]! << 16;
}

function lookup16(s: Uint16Array, t: Uint32Array, o: Uint32Array, n: number): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const a0 = t[s[i]!]!;
    const a1 = t[s[i + 1]!]!;
    const a2 = t[s[i + 2]!]!;
    const a3 = t[s[i + 3]!]!;
    const a4 = t[s[i + 4]!]!;
    const a5 = t[s[i + 5]!]!;
    const a6 = t[s[i + 6]!]!;
    const a7 = t[s[i + 7]!]!;
    o[i] = a0;
    o[i + 1] = a1;
    o[i + 2] = a2;
    o[i + 3] = a3;
    o[i + 4] = a4;
    o[i + 5] = a5;
    o[i + 6] = a6;
    o[i + 7] = a7;
  }
  for (; i < n; i++) o[i] = t[s[i]!]!;
}

function lookup8(s: Uint8Array, t: Uint32Array, o: Uint32Array, n: number): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const a0 = t[s[i]!]!;
    const a1 = t[s[i + 1]!]!;
    const a2 = t[s[i + 2]!]!;
    const a3 = t[s[i + 3]!]!;
    const a4 = t[s[i + 4]!]!;
    const a5 = t[s[i + 5]!]!;
    const a6 = t[s[i + 6]!]!;
    const a7 = t[s[i + 7]!]!;
    o[i] = a0;
    o[i + 1] = a1;
    o[i + 2] = a2;
    o[i + 3] = a3;
    o[i + 4] = a4;
    o[i + 5] = a5;
    o[i + 6] = a6;
    o[i + 7] = a7;
  }
  for (; i < n; i++) o[i] = t[s[i]!]!;
}

function narrowBf16(v: Uint32Array, d: Uint16Array, n: number): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const a0 = f32BitsToBf16Bits(v[i]!);
    const a1 = f32BitsToBf16Bits(v[i + 1]!);
    const a2 = f32BitsToBf16Bits(v[i + 2]!);
    const a3 = f32BitsToBf16Bits(v[i + 3]!);
    const a4 = f32BitsToBf16Bits(v[i + 4]!);
    const a5 = f32BitsToBf16Bits(v[i + 5]!);
    const a6 = f32BitsToBf16Bits(v[i + 6]!);
    const a7 = f32BitsToBf16Bits(v[i + 7]!);
    d[i] = a0;
    d[i + 1] = a1;
    d[i + 2] = a2;
    d[i + 3] = a3;
    d[i + 4] = a4;
    d[i + 5] = a5;
    d[i + 6] = a6;
    d[i + 7] = a7;
  }
  for (; i < n; i++) d[i] = f32BitsToBf16Bits(v[i]!);
}

function narrowF16(v: Uint32Array, d: Uint16Array, n: number): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const a0 = f32BitsToF16Bits(v[i]!);
    const a1 = f32BitsToF16Bits(v[i + 1]!);
    const a2 = f32BitsToF16Bits(v[i + 2]!);
    const a3 = f32BitsToF16Bits(v[i + 3]!);
    d[i] = a0;
    d[i + 1] = a1;
    d[i + 2] = a2;
    d[i + 3] = a3;
  }
  for (; i < n; i++) d[i] = f32BitsToF16Bits(v[i]!);
}

function requireLittleEndianHost(): void {
  // Every platform Node ships for in practice (x64, arm64, ppc64le) is little-endian; rather than carry an
  // untested big-endian path, refuse loudly.
  if (!HOST_LITTLE_ENDIAN) throw new Error('Weft tensor kernels need a little-endian host');
}

/** `bytes` itself when its offset suits `size`-byte typed views, else an aligned copy. */
function aligned(bytes: Uint8Array, size: number): Uint8Array {
  if (size > 1) requireLittleEndianHost();
  // new Uint8Array(bytes) copies into a fresh, aligned buffer; Buffer#slice would return an unaligned view
  return bytes.byteOffset % size === 0 ? bytes : new Uint8Array(bytes);
}

function elementCount(dtype: Dtype, byteLength: number): number {
  const size = dtypeSize(dtype);
  if (byteLength % size !== 0) {
    throw new RangeError(`${byteLength} bytes are not a whole number of ${dtype} elements (${size} bytes each)`);
  }
  return byteLength / size;
}

/** Round half to even, then clamp to [min, max]; NaN → 0. */
function toInt(x: number, min: number, max: number): number {
  if (Number.isNaN(x)) return 0;
  if (x <= min) return min;
  if (x >= max) return max;
  const f = Math.floor(x);
  const d = x - f; // exact: float32 values have few enough bits
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

const TWO_32 = 4294967296;
const TWO_63 = 2 ** 63;
const TWO_64 = 2 ** 64;

/**
 * Decodes little-endian elements of `dtype` to float32 values, writing into `out` (which must hold at least as
 * many elements; a view of exactly that many is returned) or a new array. Floats convert exactly or round to
 * nearest even (F64, and I32/U32/I64/U64 beyond 2^24, each with a single rounding); NaN payloads are kept where
 * float32 can hold them. BOOL decodes any non-zero byte as 1. `bytes` may start at any offset.
 *
 * @example decodeToF32('BF16', new Uint8Array([0x80, 0x3f])) // Float32Array [1]
 */
export function decodeToF32(dtype: Dtype, bytes: Uint8Array, out?: Float32Array): Float32Array {
  const n = elementCount(dtype, bytes.length);
  let o: Float32Array;
  if (out === undefined) o = new Float32Array(n);
  else if (out.length < n) throw new RangeError(`output holds ${out.length} elements, ${n} needed`);
  else o = out.length === n ? out : out.subarray(0, n);
  const o32 = new Uint32Array(o.buffer, o.byteOffset, n);
  switch (dtype) {
    case 'F32': {
      requireLittleEndianHost();
      new Uint8Array(o.buffer, o.byteOffset, n * 4).set(bytes);
      break;
    }
    case 'F16': {
      const b = aligned(bytes, 2);
      const s = new Uint16Array(b.buffer, b.byteOffset, n);
      lookup16(s, f16Bits(), o32, n);
      break;
    }
    case 'BF16': {
      const b = aligned(bytes, 2);
      widenBf16(new Uint16Array(b.buffer, b.byteOffset, n), o32, n);
      break;
    }
    case 'F8_E4M3':
    case 'F8_E5M2': {
      lookup8(bytes, dtype === 'F8_E4M3' ? e4m3Bits() : e5m2Bits(), o32, n);
      break;
    }
    case 'F64': {
      const b = aligned(bytes, 8);
      const s = new Float64Array(b.buffer, b.byteOffset, n);
      const w = new Uint32Array(b.buffer, b.byteOffset, 2 * n);
      for (let i = 0; i < n; i++) {
        const v = s[i]!;
        if (!Number.isNaN(v)) o[i] = v;
        else {
          // NaN: keep sign and top payload bits, quieted (a typed-array store would not promise either).
          const hi = w[2 * i + 1]!;
          o32[i] = (hi & 0x80000000) | 0x7fc00000 | ((hi & 0x7ffff) << 3) | (w[2 * i]! >>> 29);
        }
      }
      break;
    }
    case 'I64':
    case 'U64': {
      const b = aligned(bytes, 8);
      const lo32 = new Uint32Array(b.buffer, b.byteOffset, 2 * n);
      const hi32 = dtype === 'I64' ? new Int32Array(b.buffer, b.byteOffset, 2 * n) : lo32;
      for (let i = 0; i < n; i++) {
        const hi = hi32[2 * i + 1]!;
        let lo = lo32[2 * i]!;
        if (hi >= 0x200000 || hi < -0x200000) {
          // |v| ≥ 2^53 would round twice (to float64, then float32). Float32 rounding points here are multiples
          // of 2^29, so folding bits 0..28 into one sticky bit at 28 keeps the result and makes v exact in float64.
          lo = ((lo & 0xe0000000) | ((lo & 0x1fffffff) === 0 ? 0 : 0x10000000)) >>> 0;
        }
        o[i] = hi * TWO_32 + lo;
      }
      break;
    }
    case 'I32': {
      const b = aligned(bytes, 4);
      const s = new Int32Array(b.buffer, b.byteOffset, n);
      for (let i = 0; i < n; i++) o[i] = s[i]!;
      break;
    }
    case 'U32': {
      const b = aligned(bytes, 4);
      const s = new Uint32Array(b.buffer, b.byteOffset, n);
      for (let i = 0; i < n; i++) o[i] = s[i]!;
      break;
    }
    case 'I16': {
      const b = aligned(bytes, 2);
      const s = new Int16Array(b.buffer, b.byteOffset, n);
      for (let i = 0; i < n; i++) o[i] = s[i]!;
      break;
    }
    case 'U16': {
      const b = aligned(bytes, 2);
      const s = new Uint16Array(b.buffer, b.byteOffset, n);
      for (let i = 0; i < n; i++) o[i] = s[i]!;
      break;
    }
    case 'I8': {
      const s = new Int8Array(bytes.buffer, bytes.byteOffset, n);
      for (let i = 0; i < n; i++) o[i] = s[i]!;
      break;
    }
    case 'U8': {
      for (let i = 0; i < n; i++) o[i] = bytes[i]!;
      break;
    }
    case 'BOOL': {
      for (let i = 0; i < n; i++) o[i] = bytes[i] === 0 ? 0 : 1;
      break;
    }
  }
  return o;
}

/**
 * Encodes float32 values as little-endian elements of `dtype`, into `out` (which must hold at least that many
 * bytes; a view of exactly those bytes is returned, and `out` may start at any offset) or a new array. Floats
 * round to nearest even (see the scalar functions for overflow and NaN); integers round half to even, then
 * saturate to their range, with NaN → 0; BOOL is `x != 0` (so NaN → 1).
 *
 * @example encodeFromF32('F16', new Float32Array([1, -2])) // Uint8Array [0x00, 0x3c, 0x00, 0xc0]
 */
export function encodeFromF32(dtype: Dtype, values: Float32Array, out?: Uint8Array): Uint8Array {
  const n = values.length;
  const size = dtypeSize(dtype);
  const byteLength = n * size;
  let o: Uint8Array;
  if (out === undefined) o = new Uint8Array(byteLength);
  else if (out.length < byteLength) throw new RangeError(`output holds ${out.length} bytes, ${byteLength} needed`);
  else o = out.length === byteLength ? out : out.subarray(0, byteLength);
  if (size > 1) requireLittleEndianHost();
  // Write through typed views of `o` when aligned, else of a scratch copy moved into `o` at the end.
  const w = o.byteOffset % size === 0 ? o : new Uint8Array(byteLength);
  const v32 = new Uint32Array(values.buffer, values.byteOffset, n);
  switch (dtype) {
    case 'F32': {
      w.set(new Uint8Array(values.buffer, values.byteOffset, byteLength));
      break;
    }
    case 'F16': {
      narrowF16(v32, new Uint16Array(w.buffer, w.byteOffset, n), n);
      break;
    }
    case 'BF16': {
      narrowBf16(v32, new Uint16Array(w.buffer, w.byteOffset, n), n);
      break;
    }
    case 'F8_E4M3': {
      for (let i = 0; i < n; i++) w[i] = f32BitsToF8E4m3Bits(v32[i]!);
      break;
    }
    case 'F8_E5M2': {
      for (let i = 0; i < n; i++) w[i] = f32BitsToF8E5m2Bits(v32[i]!);
      break;
    }
    case 'F64': {
      const d = new Float64Array(w.buffer, w.byteOffset, n);
      const d32 = new Uint32Array(w.buffer, w.byteOffset, 2 * n);
      for (let i = 0; i < n; i++) {
        const x = values[i]!;
        if (!Number.isNaN(x)) d[i] = x;
        else {
          const u = v32[i]!;
          d32[2 * i] = (u << 29) >>> 0;
          d32[2 * i + 1] = ((u & 0x80000000) | 0x7ff80000 | ((u & 0x7fffff) >>> 3)) >>> 0;
        }
      }
      break;
    }
    case 'I64': {
      const d = new Uint32Array(w.buffer, w.byteOffset, 2 * n);
      for (let i = 0; i < n; i++) {
        const x = values[i]!;
        let hi: number;
        let lo: number;
        if (x >= TWO_63) {
          hi = 0x7fffffff;
          lo = 0xffffffff;
        } else {
          const r = toInt(x, -TWO_63, TWO_63);
          hi = Math.floor(r / TWO_32);
          lo = r - hi * TWO_32;
        }
        d[2 * i] = lo;
        d[2 * i + 1] = hi >>> 0;
      }
      break;
    }
    case 'U64': {
      const d = new Uint32Array(w.buffer, w.byteOffset, 2 * n);
      for (let i = 0; i < n; i++) {
        const x = values[i]!;
        let hi: number;
        let lo: number;
        if (x >= TWO_64) {
          hi = 0xffffffff;
          lo = 0xffffffff;
        } else {
          const r = toInt(x, 0, TWO_64);
          hi = Math.floor(r / TWO_32);
          lo = r - hi * TWO_32;
        }
        d[2 * i] = lo;
        d[2 * i + 1] = hi;
      }
      break;
    }
    case 'I32': {
      const d = new Int32Array(w.buffer, w.byteOffset, n);
      for (let i = 0; i < n; i++) d[i] = toInt(values[i]!, -0x80000000, 0x7fffffff);
      break;
    }
    case 'U32': {
      const d = new Uint32Array(w.buffer, w.byteOffset, n);
      for (let i = 0; i < n; i++) d[i] = toInt(values[i]!, 0, 0xffffffff);
      break;
    }
    case 'I16': {
      const d = new Int16Array(w.buffer, w.byteOffset, n);
      for (let i = 0; i < n; i++) d[i] = toInt(values[i]!, -0x8000, 0x7fff);
      break;
    }
    case 'U16': {
      const d = new Uint16Array(w.buffer, w.byteOffset, n);
      for (let i = 0; i < n; i++) d[i] = toInt(values[i]!, 0, 0xffff);
      break;
    }
    case 'I8': {
      for (let i = 0; i < n; i++) w[i] = toInt(values[i]!, -0x80, 0x7f) & 0xff;
      break;
    }
    case 'U8': {
      for (let i = 0; i < n; i++) w[i] = toInt(values[i]!, 0, 0xff);
      break;
    }
    case 'BOOL': {
      for (let i = 0; i < n; i++) w[i] = values[i] === 0 ? 0 : 1;
      break;
    }
  }
  if (w !== o) o.set(w);
  return o;
}
