// `weft filter-process`: the long-running filter git starts once per command (filter.weft.process), serving
// clean (git add) and smudge (git checkout) for every tracked file.

import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { serveFilterProcess } from '../git/filter-process.js';
import { growPipes } from '../git/pipe-size.js';
import { concatBytes } from './byte-stream.js';
import { cleanFile } from './clean.js';
import { allocateShared, HashPool } from './hash-pool.js';
import { openRepo } from './repo.js';
import { smudgeFile } from './smudge.js';

export interface FilterProcessOptions {
  cwd: string;
  input: Readable;
  output: Writable;
  /** One-line messages for the user (git shows the filter's stderr). */
  warn: (message: string) => void;
  /** input/output are this process's fds 0 and 1: enlarge those pipes (much faster transfers on Linux). */
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
  if (options.growStdioPipes) growPipes();
  const repo = await openRepo({ cwd: options.cwd });
  await serveFilterProcess({
    input: options.input,
    output: options.output,
    // Content on shared memory goes to hashing and compression threads without a copy.
    ...(HashPool.shared() ? { allocateContent: allocateShared } : {}),
    onError: (error) => options.warn(error instanceof Error ? error.message : String(error)),
    handlers: {
      async clean(request) {
        const sizeHint = await sizeOf(join(repo.topLevel, request.pathname));
        const result = await cleanFile({
          repo,
          pathname: request.pathname,
          content: request.content,
          ...(sizeHint === undefined ? {} : { sizeHint }),
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
