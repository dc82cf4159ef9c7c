// Loads the optional native byte-plane kernels (native/weft_kernels.c, built by `npm ci` / `npm run build`) once
// per thread. Absent, unloadable or switched off with WEFT_NO_NATIVE=1, it is `undefined` and byte-planes.ts runs
// its JavaScript kernels; loading never throws.

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { BUILD_ROOT } from '../build-root.js';

/** The addon's exports. Both check every argument and throw a TypeError or RangeError rather than crash. */
export interface NativeKernels {
  /** Interleaves `width` planes of n bytes into `out` (n × width bytes, not overlapping any plane). */
  join(planes: readonly Uint8Array[], width: number, out: Uint8Array): void;
  /** Splits the concatenation of `pieces` (n × width bytes) into `width` planes of n bytes. */
  split(pieces: readonly Uint8Array[], width: number, planes: readonly Uint8Array[]): void;
  /**
   * Linux's fcntl F_SETPIPE_SZ (`bytes` > 0) or F_GETPIPE_SZ (`bytes` = 0) on `fd`: the pipe's buffer size
   * afterwards, or -errno. Absent from an addon built before it existed.
   */
  pipeSize?(fd: number, bytes: number): number;
  /** Clears O_NONBLOCK on `fd` (Linux): 0, or -errno. Absent from an addon built before it existed. */
  blocking?(fd: number): number;
}

/** Where node-gyp puts the addon: `<root>/native/build/Release`, beside both src/ and dist/. */
export const NATIVE_KERNELS_PATH = fileURLToPath(new URL('../native/build/Release/weft_kernels.node', BUILD_ROOT));

let loaded: { kernels: NativeKernels | undefined } | undefined;

/**
 * The native kernels, or `undefined` when they are not built, fail to load, or WEFT_NO_NATIVE=1.
 *
 * @example
 * const kernels = nativeKernels();
 * if (kernels) kernels.join([Uint8Array.of(1, 3), Uint8Array.of(2, 4)], 2, out); // out → [1, 2, 3, 4]
 */
export function nativeKernels(): NativeKernels | undefined {
  loaded ??= { kernels: load() };
  return loaded.kernels;
}

function load(): NativeKernels | undefined {
  if (process.env.WEFT_NO_NATIVE === '1') return undefined;
  try {
    const addon = createRequire(import.meta.url)(NATIVE_KERNELS_PATH) as Partial<NativeKernels>;
    return typeof addon.join === 'function' && typeof addon.split === 'function' ? (addon as NativeKernels) : undefined;
  } catch {
    // Not built (no compiler at install time) or built for another platform: the JavaScript kernels do the work.
    return undefined;
  }
}
