import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StoreError } from '../errors.js';
import { decodeToF32, encodeFromF32 } from '../tensor/convert.js';
import { type Dtype, dtypeSize } from '../tensor/dtype.js';
import {
  CELL_SMALL_CANDIDATES,
  countChangedElements,
  decodeUpdate,
  describeEncoding,
  type EncodedUpdate,
  encodeDelta,
  encodeLowRank,
  encodeScaled,
  type Payloads,
  predictLowRank,
  xorInto,
} from './update-encoding.js';

const FLOAT_DTYPES: Dtype[] = ['F64', 'F32', 'F16', 'BF16', 'F8_E4M3', 'F8_E5M2'];

/** Special values every encoding must carry exactly: NaN, ±Inf, −0, subnormals (as bit patterns of each dtype). */
function specialBytes(dtype: Dtype, count: number, seed: number): Uint8Array {
  const w = dtypeSize(dtype);
  const out = new Uint8Array(count * w);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  const put = (i: number, hex: string) => {
    for (let b = 0; b < w; b++) out[i * w + b] = Number.parseInt(hex.slice(2 * (w - 1 - b), 2 * (w - b)), 16);
  };
  const patterns: Record<string, string[]> = {
    F64: [
      '7ff8000000000000',
      '7ff0000000000000',
      'fff0000000000000',
      '8000000000000000',
      '0000000000000001',
      '800fffffffffffff',
    ],
    F32: ['7fc00000', '7f800000', 'ff800000', '80000000', '00000001', '807fffff', '7fc00123'],
    F16: ['7e00', '7c00', 'fc00', '8000', '0001', '83ff'],
    BF16: ['7fc0', '7f80', 'ff80', '8000', '0001', '807f'],
    F8_E4M3: ['7f', 'ff', '80', '01', '87'],
    F8_E5M2: ['7e', '7c', 'fc', '80', '01', '83'],
  };
  for (const [k, hex] of (patterns[dtype] ?? []).entries()) put(k % count, hex);
  return out;
}

async function roundTrip(
  update: EncodedUpdate,
  parent: Uint8Array,
  dtype: Dtype,
  sizeBytes: number,
): Promise<Uint8Array> {
  const payloads: Payloads = {};
  for (const p of update.parts) payloads[p.key] = p.bytes;
  return decodeUpdate({
    kind: update.kind,
    params: update.params,
    parent: new Uint8Array(parent),
    payloads,
    sizeBytes,
    dtype,
    what: 'test',
  });
}

describe('update encodings are exact', () => {
  for (const dtype of FLOAT_DTYPES) {
    it(`delta (sparse and xor) for ${dtype}, special values included`, async () => {
      const n = 64;
      const parent = specialBytes(dtype, n, 1);
      const dense = specialBytes(dtype, n, 2);
      const sparse = new Uint8Array(parent);
      const w = dtypeSize(dtype);
      sparse.set(dense.subarray(10 * w, 11 * w), 10 * w); // one element changed
      for (const target of [dense, sparse]) {
        const update = encodeDelta({ parent, target, dtype });
        expect(await roundTrip(update, parent, dtype, target.length)).toEqual(target);
      }
      expect(encodeDelta({ parent, target: sparse, dtype }).params.patch).toBe('sparse');
      expect(encodeDelta({ parent, target: dense, dtype }).params.patch).toBe('xor');
    });
  }

  for (const dtype of ['F32', 'F16', 'BF16'] as Dtype[]) {
    it(`low-rank + residual for ${dtype}, with NaN, ±Inf, −0 and subnormals in parent and target`, async () => {
      const rows = 6;
      const cols = 5;
      const parent = specialBytes(dtype, rows * cols, 3);
      const target = specialBytes(dtype, rows * cols, 4);
      const left = Float32Array.from({ length: rows * 2 }, (_, i) => (i % 3) - 1);
      const right = Float32Array.from({ length: 2 * cols }, (_, i) => (i % 5) * 0.25);
      const update = encodeLowRank({ parent, target, dtype, update: { rows, cols, rank: 2, left, right, scale: 0.5 } });
      expect(await roundTrip(update, parent, dtype, target.length)).toEqual(target);
      // Its own prediction needs no residual.
      const predicted = predictLowRank({ parent, dtype, update: { rows, cols, rank: 2, left, right, scale: 0.5 } });
      const exact = encodeLowRank({
        parent,
        target: predicted,
        dtype,
        update: { rows, cols, rank: 2, left, right, scale: 0.5 },
      });
      expect(exact.params.patch).toBe('none');
      expect(await roundTrip(exact, parent, dtype, predicted.length)).toEqual(predicted);
    });

    it(`scale + residual for ${dtype}, rows and columns`, async () => {
      const rows = 4;
      const cols = 8;
      const parent = specialBytes(dtype, rows * cols, 5);
      const target = specialBytes(dtype, rows * cols, 6);
      for (const axis of [0, 1] as const) {
        const vector = Float32Array.from({ length: axis === 0 ? rows : cols }, (_, i) => 1 + i / 8);
        const update = encodeScaled({ parent, target, dtype, update: { rows, cols, axis, vector } });
        expect(await roundTrip(update, parent, dtype, target.length)).toEqual(target);
      }
    });
  }

  it('round-trips arbitrary byte strings (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 8, maxLength: 256 }),
        fc.uint8Array({ minLength: 8, maxLength: 256 }),
        async (a, b) => {
          const n = Math.min(a.length, b.length) & ~3;
          const parent = a.slice(0, n);
          const target = b.slice(0, n);
          const update = encodeDelta({ parent, target, dtype: 'F32' });
          expect(await roundTrip(update, parent, 'F32', n)).toEqual(target);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('low-rank prediction', () => {
  it('computes round(parent + scale·B·A) in float32 on a hand-checked case', () => {
    const parent = encodeFromF32('F32', new Float32Array([1, 2, 3, 4]));
    // B = [[1],[2]] (2×1), A = [[0.5, 0.25]] (1×2), scale 2: ΔW = [[1, 0.5],[2, 1]]
    const out = predictLowRank({
      parent,
      dtype: 'F32',
      update: {
        rows: 2,
        cols: 2,
        rank: 1,
        left: new Float32Array([1, 2]),
        right: new Float32Array([0.5, 0.25]),
        scale: 2,
      },
    });
    expect([...decodeToF32('F32', out)]).toEqual([2, 2.5, 5, 5]);
  });
});

describe('hostile payloads', () => {
  const parent = new Uint8Array(16);
  const decode = (params: Record<string, string>, payloads: Payloads, kind = 'delta') =>
    decodeUpdate({
      kind,
      params,
      parent: new Uint8Array(parent),
      payloads,
      sizeBytes: 16,
      dtype: 'F32',
      what: 'm.st: w',
    });

  it('rejects sparse positions outside the tensor', () => {
    const idx = new Uint8Array(4);
    new DataView(idx.buffer).setUint32(0, 4, true);
    expect(() => decode({ patch: 'sparse', nnz: '1' }, { idx, refs: new Uint8Array(4) })).toThrow(/outside 4 elements/);
  });
  it('rejects repeated sparse positions', () => {
    const idx = new Uint8Array(8);
    expect(() => decode({ patch: 'sparse', nnz: '2' }, { idx, refs: new Uint8Array(8) })).toThrow(/repeat/);
  });
  it('rejects an xor patch of the wrong size', () => {
    expect(() => decode({ patch: 'xor' }, { refs: new Uint8Array(8) })).toThrow(StoreError);
  });
  it('rejects factors of the wrong size and unknown kinds', () => {
    expect(() =>
      decode(
        { dtype: 'F32', shape: '2x2', rank: '1', scale: '1', patch: 'none' },
        { a: new Uint8Array(4), b: new Uint8Array(4) },
        'lowrank',
      ),
    ).toThrow(/payload a must hold 8 bytes/);
    expect(() => decode({}, {}, 'zigzag')).toThrow(/upgrade Weft/);
  });
});

describe('helpers', () => {
  it('xors and counts changed elements', () => {
    const a = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    const b = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 9]);
    xorInto(a, b);
    expect(countChangedElements(a, 4)).toBe(1);
    expect(countChangedElements(a, 1)).toBe(1);
  });
  it('describes encodings for log and diff', () => {
    expect(
      describeEncoding({ kind: 'lowrank', params: { rank: '8', patch: 'none' }, sizeBytes: 40, dtype: 'F32' }),
    ).toBe('low-rank r=8');
    expect(
      describeEncoding({ kind: 'delta', params: { patch: 'sparse', nnz: '21' }, sizeBytes: 4000, dtype: 'F32' }),
    ).toBe('delta, 2.10% of entries changed');
  });
});

describe('rounding-cell flips and small-value steps (BF16 residuals of inferred factors)', () => {
  /** A BF16 target that is round(parent + B·A) with B·A known only approximately, plus special values. */
  function noisyLowRank(rows: number, cols: number, seed: number) {
    let x = seed;
    const rand = () => {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      return x / 2 ** 32 - 0.5;
    };
    const parentF = Float32Array.from({ length: rows * cols }, () => rand() * 0.08);
    const left = Float32Array.from({ length: rows * 2 }, () => rand() * 0.2);
    const right = Float32Array.from({ length: 2 * cols }, () => rand() * 0.2);
    const parent = new Uint8Array(rows * cols * 2);
    encodeFromF32('BF16', parentF, parent);
    const truth = predictLowRank({ parent, dtype: 'BF16', update: { rows, cols, rank: 2, left, right, scale: 1 } });
    // The encoder sees perturbed factors (as an estimate from rounded data would be).
    const guessL = left.map((v) => v * (1 + rand() * 0.01));
    const guessR = right.map((v) => v * (1 + rand() * 0.01));
    const target = new Uint8Array(truth);
    for (const [i, bits] of [0x8000, 0x7f80, 0xff80, 0x7fc0, 0x0001, 0x807f, 0x0000].entries()) {
      target[2 * i * 7] = bits & 0xff;
      target[2 * i * 7 + 1] = bits >>> 8;
    }
    return { parent, target, update: { rows, cols, rank: 2, left: guessL, right: guessR, scale: 1 } };
  }
  const rawSize = (u: EncodedUpdate) => u.parts.reduce((n, p) => n + p.bytes.length, 0);

  it('round-trips exactly whichever threshold wins, special values included', async () => {
    for (const seed of [1, 2, 3]) {
      const { parent, target, update } = noisyLowRank(48, 40, seed);
      const encoded = encodeLowRank({ parent, target, dtype: 'BF16', update, sizeOf: rawSize });
      expect(await roundTrip(encoded, parent, 'BF16', target.length)).toEqual(target);
      // Every candidate threshold is itself exact: force each one through a size function that prefers it.
      for (const small of CELL_SMALL_CANDIDATES) {
        const forced = encodeLowRank({
          parent,
          target,
          dtype: 'BF16',
          update,
          sizeOf: (u) => (u.params.cells === undefined ? 1e9 : (u.params.small ?? '0') === String(small) ? 0 : 1e8),
        });
        expect(forced.params.small ?? '0').toBe(String(small));
        expect(await roundTrip(forced, parent, 'BF16', target.length)).toEqual(target);
      }
    }
  });

  it('fixes most misses of the prediction without listing their positions', () => {
    const { parent, target, update } = noisyLowRank(64, 64, 9);
    const plain = encodeLowRank({ parent, target, dtype: 'BF16', update });
    const cells = encodeLowRank({
      parent,
      target,
      dtype: 'BF16',
      update,
      sizeOf: (u) => (u.params.cells === undefined ? 1e9 : Number(u.params.nnz ?? 0)),
    });
    const xor = predictLowRank({ parent, dtype: 'BF16', update });
    xorInto(xor, target);
    const misses = countChangedElements(xor, 2);
    expect(plain.params.cells).toBeUndefined();
    expect(misses).toBeGreaterThan(400);
    expect(cells.params.cells).toBe('16');
    expect(cells.params.patch).toBe('sparse');
    expect(Number(cells.params.nnz)).toBeLessThan(misses / 4);
  });

  it('refuses bitmaps or steps that do not fit, and unknown parameters', async () => {
    const { parent, target, update } = noisyLowRank(32, 32, 4);
    const encoded = encodeLowRank({
      parent,
      target,
      dtype: 'BF16',
      update,
      sizeOf: (u) => (u.params.small === '118' ? 0 : 1e9),
    });
    const payloads: Payloads = {};
    for (const p of encoded.parts) payloads[p.key] = p.bytes;
    const decode = (params: Record<string, string>, p: Payloads) =>
      decodeUpdate({
        kind: 'lowrank',
        params,
        parent: new Uint8Array(parent),
        payloads: p,
        sizeBytes: target.length,
        dtype: 'BF16',
        what: 'm: w',
      });
    expect(() => decode(encoded.params, { ...payloads, f: payloads.f!.subarray(1) })).toThrow(StoreError);
    expect(() => decode(encoded.params, { ...payloads, d: payloads.d!.subarray(2) })).toThrow(/small-value steps/);
    expect(() => decode({ ...encoded.params, cells: '17' }, payloads)).toThrow(/not known/);
    expect(() => decode({ ...encoded.params, small: '300' }, payloads)).toThrow(/exceeds 255/);
    const { f: _, ...withoutF } = payloads;
    expect(() => decode(encoded.params, withoutF)).toThrow(/not stored/);
  });
});
