// Enlarges the pipes git talks to a filter through. Linux pipes hold 64 KiB by default, which caps a filter at
// ~0.85 GB/s here (a context switch per 64 KiB); at 1 MiB the same read runs at ~2.9 GB/s. Node has no fcntl:
// the native addon (native/weft_kernels.c) makes the call, and without it a one-line perl (which git itself
// depends on) sets F_SETPIPE_SZ on the inherited descriptors. Best effort: on any failure (no addon and no perl,
// not Linux, not a pipe) nothing changes.

import { spawn, spawnSync } from 'node:child_process';
import { fstatSync } from 'node:fs';
import { nativeKernels } from '../store/native-kernels.js';

/** Linux's F_SETPIPE_SZ / F_GETPIPE_SZ (fcntl.h). */
const F_SETPIPE_SZ = 1031;
const F_GETPIPE_SZ = 1032;
/** The default /proc/sys/fs/pipe-max-size: the most an unprivileged process may ask for. */
export const PIPE_BYTES = 1024 * 1024;

function isPipe(fd: number): boolean {
  try {
    return fstatSync(fd).isFIFO();
  } catch {
    return false;
  }
}

/**
 * Tries to give the pipes on `stdin` (fd 0) and `stdout` (fd 1) a 1 MiB buffer; resolves with whether it ran.
 * With the native addon this is two system calls, done before it returns; with perl it runs in the background
 * (nothing waits on a perl start-up): a pipe can be enlarged while data flows through it.
 * @example void growPipes(); // at the start of `weft filter-process`
 */
export function growPipes(): Promise<boolean> {
  if (process.platform !== 'linux') return Promise.resolve(false);
  const native = nativeKernels();
  if (native?.pipeSize && native.blocking) {
    // The filter reads and writes these descriptors with blocking calls: they must be blocking, whatever built a
    // stream on them before (perl, below, does the same as a side effect: libuv makes a child's stdio blocking,
    // and the flag belongs to the pipe, shared with this process). fcntl says "not a pipe" itself: no fstat.
    native.blocking(0);
    native.blocking(1);
    const grown = [0, 1].map((fd) => native.pipeSize!(fd, PIPE_BYTES) >= PIPE_BYTES);
    return Promise.resolve(grown[0] === true || grown[1] === true);
  }
  if (!(isPipe(0) || isPipe(1))) return Promise.resolve(false);
  const script = `fcntl(STDIN, ${F_SETPIPE_SZ}, ${PIPE_BYTES}); fcntl(STDOUT, ${F_SETPIPE_SZ}, ${PIPE_BYTES});`;
  return new Promise((resolve) => {
    const child = spawn('perl', ['-e', script], { stdio: [0, 1, 'ignore'], timeout: 5000 });
    child.on('error', () => resolve(false));
    child.on('exit', (code) => resolve(code === 0));
    child.unref();
  });
}

/** The buffer size of the pipe on `fd` (Linux, with the native addon or perl), or undefined. For tests and diagnostics. */
export function readPipeSize(fd: number): number | undefined {
  const pipeSize = nativeKernels()?.pipeSize;
  if (pipeSize) {
    const n = pipeSize(fd, 0);
    return n > 0 ? n : undefined;
  }
  const r = spawnSync('perl', ['-e', `print STDERR fcntl(STDIN, ${F_GETPIPE_SZ}, 0);`], {
    stdio: [fd, 'ignore', 'pipe'],
    timeout: 5000,
  });
  const n = Number(r.stderr?.toString());
  return r.status === 0 && Number.isFinite(n) && n > 0 ? n : undefined;
}
