// `weft filter-process`: the long-running filter git starts once per command (filter.weft.process), serving
// clean (git add) and smudge (git checkout) for every tracked file.

import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { serveFilterProcess } from '../git/filter-process.js';
import { growPipes } from '../git/pipe-size.js';
import { CONTENT_CHUNK_BYTES } from '../git/pkt-line.js';
import { CodecPool } from '../store/codec-pool.js';
import { BufferPool } from './buffer-pool.js';
import { concatBytes } from './byte-stream.js';
import { cleanFile } from './clean.js';
import { openRepo } from './repo.js';
import { smudgeFile } from './smudge.js';

/** Idle 1 MiB content buffers kept for reuse (bounds what the pool holds between files). */
const POOL_IDLE_BUFFERS = 64;

export interface FilterProcessOptions {
  cwd: string;
  input: Readable;
  output: Writable;
  /** One-line messages for the user (git shows the filter's stderr). */
  warn: (message: string) => void;
  /**
   * input/output are this process's fds 0 and 1: enlarge those pipes (much faster transfers on Linux) and write
   * fd 1 asynchronously.
   */
  growStdioPipes?: boolean;
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    const s = await stat(path);
    return s.isFile() ? s.size : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Serves git's filter protocol on `input`/`output` until git closes it.
 * @example await runFilterProcess({ cwd, input: process.stdin, output: process.stdout, warn: console.error });
 */
export async function runFilterProcess(options: FilterProcessOptions): Promise<void> {
  let output = options.output;
  if (options.growStdioPipes) {
    growPipes();
    // process.stdout writes to a pipe synchronously on Linux: while git drains a checkout, the thread that hashes
    // and schedules decoding would sit blocked. Writes through an fs stream on fd 1 run on libuv's pool instead.
    output = createWriteStream('', { fd: 1, autoClose: false, highWaterMark: 4 * 1024 * 1024 });
  }
  const repo = await openRepo({ cwd: options.cwd });
  // Content buffers circulate: git's stream → hashing thread → compression thread → back to the pool.
  const pool = new BufferPool(CONTENT_CHUNK_BYTES, POOL_IDLE_BUFFERS);
  const codecs = CodecPool.shared();
  if (codecs) codecs.recycle = (buffer) => pool.give(buffer);
  await serveFilterProcess({
    allocateContent: (bytes) => pool.take(bytes),
    input: options.input,
    output,
    onError: (error) => options.warn(error instanceof Error ? error.message : String(error)),
    handlers: {
      async clean(request) {
        const sizeHint = await sizeOf(join(repo.topLevel, request.pathname));
        const result = await cleanFile({
          repo,
          pathname: request.pathname,
          content: request.content,
          ...(sizeHint === undefined ? {} : { sizeHint }),
          recycle: (buffer) => pool.give(buffer),
          warn: options.warn,
        });
        return result.output;
      },
      async smudge(request) {
        const parts: Uint8Array[] = [];
        for await (const p of request.content) parts.push(p);
        return smudgeFile({ store: repo.store, pathname: request.pathname, input: concatBytes(parts) });
      },
    },
  });
}
