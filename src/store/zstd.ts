// zstd through `zstd-napi`'s one-shot calls: compress into a buffer of ZSTD_compressBound, decompress straight
// into a buffer the caller sizes (and may recycle). The streaming decoder of the previous binding grew its output
// as it went and decoded a 4 MiB exponent plane at 0.43–0.66 GB/s; ZSTD_decompressDCtx into a given buffer runs at
// 1.18–1.27 GB/s here, as the zstd CLI does. One context per thread (each worker loads its own copy of this module).

import { Buffer } from 'node:buffer';
import { createRequire } from 'node:module';

/** The part of zstd-napi's native binding used here (its `binding.d.ts`, which TypeScript cannot reach by path). */
interface Binding {
  CCtx: new () => { compress(dst: Uint8Array, src: Uint8Array, level: number): number };
  DCtx: new () => { decompress(dst: Uint8Array, src: Uint8Array): number };
  compressBound(srcSize: number): number;
}
const binding = createRequire(import.meta.url)('zstd-napi/binding') as Binding;
const cctx = new binding.CCtx();
const dctx = new binding.DCtx();

/**
 * One zstd frame of `src` at `level` (with its content size in the header). The result is a view of a buffer of
 * ZSTD_compressBound bytes: copy it where it belongs rather than keeping many.
 * @example zstdCompress(plane, 1).length // < plane.length for compressible bytes
 */
export function zstdCompress(src: Uint8Array, level: number): Uint8Array {
  const dst = Buffer.allocUnsafeSlow(binding.compressBound(src.length));
  return dst.subarray(0, cctx.compress(dst, src, level));
}

/**
 * Decompresses one frame into `dst` and returns how many bytes it wrote. Throws (zstd's message) when the frame
 * is damaged or would write more than `dst` holds: memory is bounded by the caller, never by the input.
 * @example const n = zstdDecompressInto(out, frame); // n === out.length for a frame of exactly that size
 */
export function zstdDecompressInto(dst: Uint8Array, frame: Uint8Array): number {
  return dctx.decompress(dst, frame);
}
