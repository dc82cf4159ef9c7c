// Tests for the native byte-plane kernels (native/weft_kernels.c through native-kernels.ts): loaded whenever built,
// byte for byte the JavaScript kernels' output on every width, length, alignment and cut into pieces, and bad
// arguments thrown as errors, never a crash. Skipped, visibly, where the addon is not built.

import { closeSync, existsSync, mkdtempSync, openSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type GroupWidth, joinPlanes, joinPlanesJs, splitPieces, splitPiecesJs } from './byte-planes.js';
import { NATIVE_KERNELS_PATH, type NativeKernels, nativeKernels } from './native-kernels.js';

const widths: GroupWidth[] = [1, 2, 4, 8];
const built = existsSync(NATIVE_KERNELS_PATH);
const switchedOff = process.env.WEFT_NO_NATIVE === '1';

/** The addon straight from its path, whatever WEFT_NO_NATIVE says; undefined when not built or not loadable. */
function loadAddon(): NativeKernels | undefined {
  try {
    return createRequire(import.meta.url)(NATIVE_KERNELS_PATH) as NativeKernels;
  } catch {
    return undefined;
  }
}
const native = built ? loadAddon() : undefined;

/** `length` pseudo-random bytes from `seed` (xorshift32), `offset` bytes into a fresh buffer. */
function randomBytes(length: number, seed: number, offset = 0): Uint8Array {
  const bytes = new Uint8Array(length + offset).subarray(offset);
  let x = seed | 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

/** `width` zeroed planes of `n` bytes, plane j `offsets[j]` bytes into its own buffer. */
function emptyPlanes(width: number, n: number, offsets: readonly number[]): Uint8Array[] {
  return Array.from({ length: width }, (_, j) => new Uint8Array(n + offsets[j]!).subarray(offsets[j]!));
}

/** `src` cut at the given points (sorted, clamped), so that elements may straddle pieces and pieces may be empty. */
function cut(src: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const at = [0, ...cuts.map((c) => Math.min(c, src.length)).sort((a, b) => a - b), src.length];
  return at.slice(1).map((end, k) => src.slice(at[k], end));
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));
const samePlanes = (a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean =>
  a.length === b.length && a.every((plane, j) => same(plane, b[j]!));

describe('native kernels', () => {
  it.skipIf(!built)('are loaded whenever native/build/Release/weft_kernels.node is built', () => {
    // Loading it directly shows the reason if it fails, rather than a silent fallback to JavaScript.
    expect(() => createRequire(import.meta.url)(NATIVE_KERNELS_PATH)).not.toThrow();
    expect(nativeKernels()).toBe(switchedOff ? undefined : native);
  });

  // .ci/run sets WEFT_REQUIRE_NATIVE=1: a build that fell back to JavaScript (its warning line scrolled by) fails CI.
  it.runIf(process.env.WEFT_REQUIRE_NATIVE === '1' && !switchedOff)('are built where they are required', () => {
    expect(built).toBe(true);
    expect(nativeKernels()).toBeDefined();
  });

  it.runIf(switchedOff)('are switched off by WEFT_NO_NATIVE=1', () => {
    expect(nativeKernels()).toBeUndefined();
  });
});

describe.skipIf(native === undefined)('native kernels against the JavaScript ones', () => {
  const kernels = native as NativeKernels;

  it('join and split exactly as the JavaScript kernels for every width, length and alignment', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...widths),
        fc.oneof(fc.nat({ max: 40 }), fc.nat({ max: 5000 })),
        fc.array(fc.nat({ max: 15 }), { minLength: 9, maxLength: 9 }),
        fc.integer(),
        (width, n, offsets, seed) => {
          const src = randomBytes(n * width, seed, offsets[8]!);
          const planes = emptyPlanes(width, n, offsets);
          const expected = emptyPlanes(width, n, [0, 0, 0, 0, 0, 0, 0, 0]);
          kernels.split([src], width, planes);
          splitPiecesJs([src], width, expected);
          expect(samePlanes(planes, expected)).toBe(true);
          const out = new Uint8Array(n * width + offsets[0]!).subarray(offsets[0]!);
          kernels.join(planes, width, out);
          const expectedOut = new Uint8Array(n * width);
          joinPlanesJs(expected, width, expectedOut);
          expect(same(out, expectedOut)).toBe(true);
          expect(same(out, src)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('split pieces cut anywhere (elements across several pieces, empty pieces) as the JavaScript kernels', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...widths),
        fc.nat({ max: 3000 }),
        fc.array(fc.oneof(fc.nat({ max: 24 }), fc.nat({ max: 24_000 })), { maxLength: 12 }),
        fc.array(fc.nat({ max: 7 }), { minLength: 8, maxLength: 8 }),
        fc.integer(),
        (width, n, cuts, offsets, seed) => {
          const src = randomBytes(n * width, seed);
          const pieces = cut(src, cuts);
          const planes = emptyPlanes(width, n, offsets);
          const expected = emptyPlanes(width, n, offsets);
          kernels.split(pieces, width, planes);
          splitPiecesJs(pieces, width, expected);
          expect(samePlanes(planes, expected)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('give the public functions the same results as the JavaScript kernels on large, odd-sized runs', () => {
    for (const width of widths) {
      const n = (1 << 18) + 13;
      const src = randomBytes(n * width, width * 7919, 3);
      const pieces = cut(src, [1, 65_537, 65_539, 1 << 20]);
      const planes = emptyPlanes(width, n, [1, 2, 3, 5, 7, 11, 13, 0]);
      const expected = emptyPlanes(width, n, [0, 0, 0, 0, 0, 0, 0, 0]);
      splitPieces(pieces, width, planes);
      splitPiecesJs(pieces, width, expected);
      expect(samePlanes(planes, expected)).toBe(true);
      const out = new Uint8Array(n * width + 1).subarray(1);
      joinPlanes(planes, width, out);
      expect(same(out, src)).toBe(true);
    }
  });

  it('throw TypeError or RangeError for bad arguments instead of crashing', () => {
    const k = kernels as unknown as Record<
      'join' | 'split' | 'pipeSize' | 'blocking' | 'warmListen' | 'warmAccept' | 'adoptStdio',
      (...args: unknown[]) => void
    >;
    const p2 = [new Uint8Array(8), new Uint8Array(8)];
    const out = new Uint8Array(16);
    const bad: [() => void, typeof TypeError | typeof RangeError][] = [
      [() => k.join(), TypeError],
      [() => k.join(p2, 2), TypeError],
      [() => k.join(p2, '2', out), TypeError],
      [() => k.join(p2, 3, out), RangeError],
      [() => k.join(p2, Number.NaN, out), RangeError],
      [() => k.join(p2, 2.5, out), RangeError],
      [() => k.join(p2, 16, new Uint8Array(128)), RangeError],
      [() => k.join(p2[0], 2, out), TypeError],
      [() => k.join([p2[0], new Uint16Array(4)], 2, out), TypeError],
      [() => k.join([p2[0], [0, 0, 0, 0, 0, 0, 0, 0]], 2, out), TypeError],
      [() => k.join([p2[0], new Uint8ClampedArray(8)], 2, out), TypeError],
      [() => k.join([p2[0]], 2, out), RangeError],
      [() => k.join([...p2, p2[0]], 2, out), RangeError],
      [() => k.join([p2[0], new Uint8Array(7)], 2, out), RangeError],
      [() => k.join(p2, 2, new Uint8Array(15)), RangeError],
      [() => k.join(p2, 2, new DataView(new ArrayBuffer(16))), TypeError],
      [() => k.join(p2, 2, 'out'), TypeError],
      [() => k.split([new Uint8Array(16)], 2), TypeError],
      [() => k.split(new Uint8Array(16), 2, p2), TypeError],
      [() => k.split([new Uint8Array(16), 'x'], 2, p2), TypeError],
      [() => k.split([new Uint8Array(15)], 2, p2), RangeError],
      [() => k.split([new Uint8Array(17)], 2, p2), RangeError],
      [() => k.split([new Uint8Array(16)], 4, p2), RangeError],
      [() => k.split([new Uint8Array(16)], 2, [p2[0], new Uint8Array(9)]), RangeError],
      [() => k.split([new Uint8Array(16)], 2, [p2[0], {}]), TypeError],
      [() => k.pipeSize(0), TypeError],
      [() => k.pipeSize('0', 0), TypeError],
      [() => k.pipeSize(-1, 0), RangeError],
      [() => k.pipeSize(0, 1.5), RangeError],
      [() => k.pipeSize(0, 2 ** 31), RangeError],
      [() => k.blocking(), TypeError],
      [() => k.blocking('1'), TypeError],
      [() => k.blocking(-1), RangeError],
    ];
    if (process.platform === 'linux') {
      bad.push(
        [() => k.warmListen(), TypeError],
        [() => k.warmListen(3), TypeError],
        [() => k.warmAccept(3), TypeError],
        [() => k.warmAccept('3', 0), TypeError],
        [() => k.warmAccept(3, -1), RangeError],
        [() => k.adoptStdio(), TypeError],
        [() => k.adoptStdio([3, 4]), TypeError],
        [() => k.adoptStdio([3, 4, 'x']), TypeError],
        [() => k.adoptStdio([3, 4, 1]), RangeError], // must be above 2: this process's own stdio
      );
    }
    for (const [call, error] of bad) expect(call).toThrow(error);
  });

  it.runIf(process.platform === 'linux')('pipeSize answers -errno for a descriptor that is not a pipe', () => {
    const pipeSize = kernels.pipeSize!;
    const fd = openSync(fileURLToPath(import.meta.url), 'r');
    try {
      expect(pipeSize(fd, 0)).toBeLessThan(0);
      expect(pipeSize(fd, 1 << 20)).toBeLessThan(0);
    } finally {
      closeSync(fd);
    }
    expect(pipeSize(2 ** 31 - 1, 0)).toBe(-9); // EBADF
  });

  it.runIf(process.platform === 'linux')(
    'warmListen answers -errno for a path it cannot bind, warmAccept undefined when nobody comes',
    () => {
      const k = kernels as unknown as {
        warmListen(path: string): number;
        warmAccept(fd: number, timeoutMs: number): unknown;
      };
      expect(k.warmListen('x'.repeat(200))).toBe(-36); // ENAMETOOLONG: a socket path holds 107 bytes
      expect(k.warmListen('/nonexistent-dir/filter.sock')).toBe(-2); // ENOENT
      const dir = mkdtempSync(join(tmpdir(), 'weft-warm-'));
      const fd = k.warmListen(join(dir, 's.sock'));
      try {
        expect(fd).toBeGreaterThan(2);
        expect(statSync(join(dir, 's.sock')).mode & 0o777).toBe(0o600);
        expect(k.warmListen(join(dir, 's.sock'))).toBe(-98); // EADDRINUSE
        expect(k.warmAccept(fd, 10)).toBeUndefined();
      } finally {
        closeSync(fd);
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it('refuse an output that shares memory with an input', () => {
    const memory = new Uint8Array(64);
    const planes = [memory.subarray(0, 16), memory.subarray(16, 32)];
    expect(() => kernels.join(planes, 2, memory.subarray(31, 63))).toThrow(RangeError);
    expect(() => kernels.split([memory.subarray(8, 40)], 2, [memory.subarray(40, 56), memory.subarray(0, 16)])).toThrow(
      RangeError,
    );
    // Neighbours in one buffer are fine.
    kernels.join(planes, 2, memory.subarray(32, 64));
    kernels.split([memory.subarray(32, 64)], 2, planes);
  });

  it('read every array element before touching memory, so a getter that detaches a buffer cannot cause harm', () => {
    const first = new Uint8Array(1024);
    const pieces: Uint8Array[] = [first];
    Object.defineProperty(pieces, 1, {
      enumerable: true,
      get: () => {
        structuredClone(first.buffer, { transfer: [first.buffer] });
        return new Uint8Array(1024);
      },
    });
    const planes = [new Uint8Array(1024), new Uint8Array(1024)];
    expect(first.length).toBe(1024);
    expect(() => kernels.split(pieces, 2, planes)).toThrow(RangeError);
    expect(first.length).toBe(0);
  });

  it('load and run in a worker thread', async () => {
    const { Worker } = await import('node:worker_threads');
    const script = `
      const { parentPort, workerData } = require('node:worker_threads');
      const k = require(workerData);
      const out = new Uint8Array(4);
      k.join([Uint8Array.of(1, 3), Uint8Array.of(2, 4)], 2, out);
      parentPort.postMessage([...out]);
    `;
    const worker = new Worker(script, { eval: true, workerData: NATIVE_KERNELS_PATH });
    const result = await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    expect(result).toEqual([1, 2, 3, 4]);
  });
});
